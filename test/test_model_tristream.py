"""TriStreamModel: training pass, streaming answer events, fusion on demand, bad input."""
import dataclasses
import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.config import ROUTES, TriStreamConfig
from tristream_ros.model.text_tokenizer import TextTokenizer
from tristream_ros.model.tristream_model import (Action, Done, Query, RouteChosen, TextDelta,
                                                 TriStreamModel)

torch.set_num_threads(1)
CORPUS = ["turn left", "stop", "what colour is the ball", "the ball is red", "go to the red ball",
          "going to the red ball", "what is on the left", "a cup"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    tok = TextTokenizer.build(CORPUS)
    return TriStreamModel(TriStreamConfig.preset("tiny", vocab_size=len(tok)), tok).eval()


def _batch(m, images=True):
    tok, cfg, B = m.tokenizer, m.config, 4
    b = dict(query_ids=[tok.encode(q) for q in ("turn left", "what colour is the ball", "go to the red ball",
                                                "what is on the left")],
             answer_ids=[tok.encode(a) for a in ("turn left", "the ball is red", "going to the red ball", "a cup")],
             context_ids=[[], [], [], tok.encode("what colour is the ball")],
             speech_tokens=torch.randn(B, 6, cfg.speech_dim),
             speech_mask=torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [False] * 6, [True] * 6]),
             route=["speech", "speech_vision", "vision", "trimodal"],
             action=["turn_left", "none", 5, 7], target_uv=torch.tensor([[0, 0], [0, 0], [0.8, 0.3], [0, 0]]),
             has_target=[False, False, True, False])
    if images:
        b["images"] = torch.rand(B, 2, 3, 64, 64)
    else:
        b["vision_features"] = torch.randn(B, 64, cfg.vision_dim)
        b["vision_mask"] = torch.rand(B, 64) < 0.3
    return b


@pytest.mark.parametrize("images", [True, False])
def test_forward_train_losses_and_gradients(model, images):
    model.train()
    try:
        out, losses = model.forward_train(_batch(model, images), modal_dropout=0.5, input_dropout=0.5)
    finally:
        model.eval()
    for k in ("lm", "action", "pointer", "offset", "router", "sufficiency", "total"):
        assert torch.isfinite(losses[k]), k
    assert ("vision_budget" in losses) == images
    losses["total"].backward()
    assert model.decoder.embed_tokens.weight.grad.abs().sum() > 0
    assert model.router.mlp[-1].weight.grad.abs().sum() > 0
    assert out["router_logits"].shape == (4, len(ROUTES))
    model.zero_grad()


def test_ctc_hook_is_added(model):
    model.ctc_hook = lambda batch, outputs: torch.tensor(0.25)
    try:
        _, losses = model.forward_train(_batch(model, images=False))
    finally:
        model.ctc_hook = None
    assert float(losses["ctc"]) == 0.25


def test_answer_event_stream(model):
    frames = np.random.default_rng(0).integers(0, 256, (2, 96, 128, 3), dtype=np.uint8)
    events = list(model.answer(Query("what colour is the ball", torch.randn(5, model.config.speech_dim), frames)))
    assert isinstance(events[0], RouteChosen) and events[0].route in ROUTES
    assert isinstance(events[1], Action) and events[1].name in model.config.action.actions
    assert all(isinstance(e, TextDelta) for e in events[2:-1])
    done = events[-1]
    assert isinstance(done, Done) and done.latencies_ms["total"] > 0
    assert done.text == "".join(e.text for e in events[2:-1])
    assert done.flops > 0 and done.trace.route == events[0].route


def _count_vision_work(m):
    calls = {"vision": 0}

    def hook(*_):
        calls["vision"] += 1
    handles = [mod.register_forward_hook(hook) for mod in (m.vision.backbone, m.vision.scorer, m.vision_proj)]
    return calls, handles


def test_audio_only_query_runs_no_vision(model):
    calls, handles = _count_vision_work(model)
    provider_calls = []
    try:
        # no camera at all
        list(model.answer(Query("turn left", torch.randn(5, model.config.speech_dim), None)))
        assert calls["vision"] == 0
        # a camera frame is available (as a lazy provider) but the speech expert answers
        model.config.cascade.escalate_below = 0.0  # the speech expert is always confident enough
        model.config.cascade.start = "cheapest"
        events = list(model.answer(Query("turn left", torch.randn(5, model.config.speech_dim),
                                         lambda: provider_calls.append(1))))
        assert events[0].route == "speech"
        assert calls["vision"] == 0 and provider_calls == []
        assert events[-1].latencies_ms["vision"] == 0.0
        # ... whereas a vision route does run the encoder
        model.config.cascade.start = "router"
        frames = np.zeros((64, 64, 3), np.uint8)
        model.config.cascade.escalate_below = 1.0  # escalate to the last (trimodal) expert
        events = list(model.answer(Query("what colour is the ball", torch.randn(5, model.config.speech_dim), frames)))
        assert events[0].route == "trimodal" and calls["vision"] > 0
    finally:
        model.config.cascade.escalate_below = 0.5
        model.config.cascade.start = "router"
        for h in handles:
            h.remove()


def test_bad_queries(model):
    with pytest.raises(InputError, match="speech_tokens"):
        list(model.answer(Query("stop", torch.randn(3, model.config.speech_dim + 1))))
    with pytest.raises(InputError, match="NaN"):
        list(model.answer(Query("stop", torch.full((3, model.config.speech_dim), float("nan")))))
    with pytest.raises(InputError, match="empty query"):
        list(model.answer(Query("", None)))
    with pytest.raises(InputError):
        list(model.answer("stop"))
    with pytest.raises(InputError, match="route"):
        model.forward_train(dict(_batch(model, images=False), route=[0, 1, 9, 2]))


def test_answer_logprob_is_batch_invariant(model):
    """Padding and route mixing in forward_train do not change an example's result (DPO relies on it)."""
    batch = _batch(model, images=False)
    out, _ = model.forward_train(batch)
    for i in (0, 3):
        single = {k: (v[i:i + 1] if isinstance(v, (list, torch.Tensor)) else v) for k, v in batch.items()}
        one, _ = model.forward_train(single)
        torch.testing.assert_close(one["answer_logprob"][0], out["answer_logprob"][i], atol=1e-4, rtol=1e-4)
    assert bool((out["answer_logprob"] < 0).all())


def test_spoken_query_with_transcript_only(model):
    """A front end without an encoder gives Utterance.tokens of shape (0, 0): still a spoken query."""
    frames = np.zeros((64, 64, 3), np.uint8)
    route, probs = model.route(Query("what colour is the ball", torch.zeros(0, 0), frames, spoken=True))
    assert probs[ROUTES.index("speech_vision")] > 0  # feasible because the query was spoken
    _, typed = model.route(Query("what colour is the ball", None, frames))
    assert typed[ROUTES.index("speech_vision")] < 1e-6
    model.config.cascade = dataclasses.replace(model.config.cascade, no_camera_reply="")  # untrained router
    events = list(model.answer(Query("turn left", torch.zeros(0, 0), None, spoken=True)))
    assert events[0].route == "speech"


def test_long_monologue_is_truncated_to_fit(model):
    cfg = model.config
    n = cfg.fusion.max_position * 3  # e.g. a 60 s monologue at 10 speech tokens/s for a small model
    events = list(model.answer(Query("turn left", torch.randn(n, cfg.speech_dim), None)))
    assert isinstance(events[-1], Done)
    with pytest.raises(InputError, match="query too long"):
        list(model.answer(Query(" ".join(["stop"] * cfg.fusion.max_position))))


def test_router_ignores_infeasible_labels(model):
    batch = _batch(model, images=False)
    batch["has_vision"] = [False] * 4  # vision labels cannot be learnt without a frame
    _, losses = model.forward_train(batch)
    assert float(losses["router"].detach()) < 100


def test_full_and_answer_only_logits_agree(model):
    batch = _batch(model, images=False)
    full, lf = model.forward_train(batch)
    part, lp = model.forward_train(batch, full_logits=False)
    assert part["lm_logits"] is None and full["lm_logits"].shape[:2] == full["labels"].shape
    torch.testing.assert_close(full["answer_logits"], part["answer_logits"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lf["lm"], lp["lm"])
    lp_full = full["lm_logits"].log_softmax(-1)
    valid = full["labels"] != -100
    ref = (lp_full.gather(-1, full["labels"].clamp_min(0)[..., None]).squeeze(-1) * valid).sum(-1)
    torch.testing.assert_close(ref, full["answer_logprob"] * full["sufficient"], atol=1e-4, rtol=1e-4)


def test_article_agrees_with_the_word_the_decoder_picks_next():
    """The answer stream holds "a"/"an" back until the next word is known: "a" + "orange"
    (an attribute the copy head may pick after the LM said "a") streams as "an orange"."""
    from tristream_ros.model.text_tokenizer import EOS_ID, article_for
    assert article_for("orange") == "an" and article_for("yellow") == "a"
    tok = TextTokenizer.build(CORPUS + ["an orange box", "a yellow box"])
    torch.manual_seed(0)
    m = TriStreamModel(TriStreamConfig.preset("tiny", vocab_size=len(tok)), tok).eval()
    m.config.cascade = dataclasses.replace(m.config.cascade, no_camera_reply="")  # untrained router, no camera
    for script, want in ((["a", "orange", "box"], "an orange box"), (["an", "yellow", "box"], "a yellow box"),
                         (["the", "cup", "a"], "the cup a")):
        ids = iter([tok.token_to_id(w) for w in script] + [EOS_ID])

        def scripted(h, vision, said, target_u=None, ids=ids):  # the decoder's choices, fixed: this tests the stream
            out = torch.full((1, len(tok)), -10.0)
            out[0, next(ids)] = 0.0
            return out
        m.next_log_probs = scripted
        deltas = [e.text for e in m.answer(Query(text="what is on the left", speech_tokens=None))
                  if isinstance(e, TextDelta)]
        done_text = "".join(deltas)
        assert done_text == want
