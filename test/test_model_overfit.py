"""The training path learns: `tiny` overfits a handful of (query, answer, action) examples."""
import random

import torch

from tristream_ros.model.config import TriStreamConfig
from tristream_ros.model.text_tokenizer import TextTokenizer
from tristream_ros.model.tristream_model import Action, Done, Query, RouteChosen, TriStreamModel
from tristream_ros.model.vision.stve import VisionTokens

torch.set_num_threads(1)

EXAMPLES = [  # (query, context, route, answer, action, target_uv)
    ("stop", "", "speech", "stopping", "stop", None),
    ("turn left", "", "speech", "turning left", "turn_left", None),
    ("what colour is the ball", "", "speech_vision", "the ball is red", "none", None),
    ("go to the cup", "", "speech_vision", "going to the cup", "navigate_to", (0.81, 0.30)),
    ("look at the box", "", "speech_vision", "looking at the box", "look_at", (0.12, 0.70)),
    ("and what is left of it", "what colour is the ball", "trimodal", "a blue box", "none", None),
]


def _data(cfg, tok):
    g = torch.Generator().manual_seed(0)
    n_keep = 10
    items = []
    for q, c, route, a, act, uv in EXAMPLES:
        speech = torch.randn(len(q.split()) * 2, cfg.speech_dim, generator=g)
        flat = torch.randperm(64, generator=g)[:n_keep]
        if uv is not None:  # make sure the target's cell is among the kept tokens
            cell = int(uv[1] * 8) * 8 + int(uv[0] * 8)
            flat[0] = cell if cell not in flat[1:] else flat[0]
        flat = flat.sort().values
        vis = VisionTokens(features=torch.randn(n_keep, cfg.vision_dim, generator=g), rows=flat // 8,
                           cols=flat % 8, importance=torch.rand(n_keep, generator=g))
        items.append(dict(q=q, c=c, route=route, a=a, act=act, uv=uv, speech=speech, vis=vis))
    return items


def _batch(items, cfg, tok):
    S = max(it["speech"].shape[0] for it in items)
    speech = torch.zeros(len(items), S, cfg.speech_dim)
    mask = torch.zeros(len(items), S, dtype=torch.bool)
    for i, it in enumerate(items):
        speech[i, : it["speech"].shape[0]] = it["speech"]
        mask[i, : it["speech"].shape[0]] = True
    return dict(query_ids=[tok.encode(it["q"]) for it in items], context_ids=[tok.encode(it["c"]) for it in items],
                answer_ids=[tok.encode(it["a"]) for it in items], speech_tokens=speech, speech_mask=mask,
                vision_features=torch.stack([it["vis"].features for it in items]),
                vision_rows=torch.stack([it["vis"].rows for it in items]),
                vision_cols=torch.stack([it["vis"].cols for it in items]),
                vision_importance=torch.stack([it["vis"].importance for it in items]),
                route=[it["route"] for it in items],
                action=[cfg.action.index(it["act"]) for it in items],
                target_uv=torch.tensor([it["uv"] or (0.0, 0.0) for it in items]),
                has_target=[it["uv"] is not None for it in items])


def test_tiny_overfits_a_handful_of_examples():
    torch.manual_seed(0)
    random.seed(0)
    tok = TextTokenizer.build([e[0] for e in EXAMPLES] + [e[1] for e in EXAMPLES] + [e[3] for e in EXAMPLES])
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    model = TriStreamModel(cfg, tok)
    items = _data(cfg, tok)
    batch = _batch(items, cfg, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for step in range(300):
        _, losses = model.forward_train(batch)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        if float(losses["total"].detach()) < 0.05:
            break
    model.eval()
    assert float(losses["lm"].detach()) < 0.05, {k: float(v.detach()) for k, v in losses.items()}
    print(f"overfit in {step + 1} steps")
    for it in items:
        events = list(model.answer(Query(it["q"], it["speech"], it["vis"], it["c"] or None)))
        route = next(e for e in events if isinstance(e, RouteChosen))
        action = next(e for e in events if isinstance(e, Action))
        done = events[-1]
        assert isinstance(done, Done)
        assert route.route == it["route"], it["q"]
        assert done.text == it["a"], it["q"]
        assert action.name == it["act"], it["q"]
        if it["uv"] is not None:
            assert action.target_uv is not None
            assert max(abs(a - b) for a, b in zip(action.target_uv, it["uv"])) < 0.08, (action.target_uv, it["uv"])
        else:
            assert action.target_uv is None


def test_answer_learnt_from_vision_alone():
    """Same spoken words, different scenes, different answers: the cross-attention / bilateral
    path carries what is seen into the text."""
    torch.manual_seed(0)
    tok = TextTokenizer.build(["what colour is the ball", "red blue green yellow"])
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    model = TriStreamModel(cfg, tok)
    colours = ["red", "blue", "green", "yellow"]
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 10, cfg.vision_dim, generator=g)
    flat = torch.stack([torch.randperm(64, generator=g)[:10].sort().values for _ in range(4)])
    batch = dict(query_ids=[tok.encode("what colour is the ball")] * 4, answer_ids=[tok.encode(c) for c in colours],
                 speech_tokens=torch.zeros(4, 1, cfg.speech_dim), speech_mask=torch.zeros(4, 1, dtype=torch.bool),
                 spoken=[True] * 4, vision_features=feats, vision_rows=flat // 8, vision_cols=flat % 8,
                 route=["speech_vision"] * 4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        _, losses = model.forward_train(batch)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        if float(losses["lm"].detach()) < 0.05:
            break
    model.eval()
    model.config.cascade.escalate_below = 0.0  # answer with the router's (speech_vision) expert
    for i, colour in enumerate(colours):
        vis = VisionTokens(features=feats[i], rows=flat[i] // 8, cols=flat[i] % 8, importance=torch.ones(10))
        events = list(model.answer(Query("what colour is the ball", None, vis, spoken=True)))
        assert events[0].route == "speech_vision"
        assert events[-1].text == colour
