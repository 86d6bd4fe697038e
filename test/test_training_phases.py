"""Pieces of the three training phases on the tiny preset (seconds, no dataset on disk)."""
import json
import random

import numpy as np
import pytest
import torch

from tristream_ros.model.config import TriStreamConfig
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder
from tristream_ros.training.cache import build_tokenizer, char_error_rate, word_noise
from tristream_ros.training.phase1_contrastive import (Phase1Heads, extra_scenes, load_tiles, phase1_losses,
                                                       rotate_hue, sample_batch, to_grayscale,
                                                       token_labels)
from tristream_ros.training.phase2_alignment import (FusionData, Phase2Options, answer_logprobs, build_model,
                                                     needed_route)
from tristream_ros.training.phase3_preference import reject_answer

torch.set_num_threads(1)


def test_token_labels_mark_the_cells_an_object_covers():
    obj = {"bbox": [40, 40, 80, 70], "colour": "red", "kind": "ball"}
    colour, kind, salient = token_labels([obj], (8, 8), 256)
    cells = set(np.flatnonzero(salient))
    assert cells == {1 * 8 + 1, 1 * 8 + 2, 2 * 8 + 1, 2 * 8 + 2}
    assert colour[1 * 8 + 1] > 0 and kind[1 * 8 + 1] > 0
    assert colour[0] == 0 and salient[0] == 0


def test_phase1_losses_are_finite_and_reach_the_scorer():
    cfg = TriStreamConfig.preset("tiny").vision
    stve = SparseTemporalVisionEncoder(cfg.replace(channels_last=False))
    heads = Phase1Heads(cfg.token_dim, 16)
    b = 4
    batch = {"tiles": torch.randint(0, 255, (b, 3, 64, 64), dtype=torch.uint8),
             "colour": torch.randint(0, 8, (b, 4)), "kind": torch.randint(0, 6, (b, 4)),
             "salient": torch.randint(0, 2, (b, 4)).float(), "obj_ids": torch.zeros(b, 1, 2, dtype=torch.long),
             "obj_mask": torch.tensor([[True], [False], [True], [False]]), "key": torch.tensor([0, 1, 0, 1])}
    losses = phase1_losses(stve, heads, batch)
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    assert stve.scorer.mlp[0].weight.grad.abs().sum() > 0


def test_grayscale_tiles_drop_colour_labels_and_contrastive_pairs():
    cfg = TriStreamConfig.preset("tiny").vision
    stve = SparseTemporalVisionEncoder(cfg.replace(channels_last=False))
    heads = Phase1Heads(cfg.token_dim, 16)
    tiles = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    g = to_grayscale(tiles.float())
    assert g.shape == tiles.shape and torch.equal(g[:, 0], g[:, 2])
    assert torch.allclose(g[:, 0], 0.299 * tiles[:, 0] + 0.587 * tiles[:, 1] + 0.114 * tiles[:, 2], atol=1e-3)
    batch = {"tiles": tiles, "colour": torch.randint(1, 8, (4, 4)), "kind": torch.randint(0, 6, (4, 4)),
             "salient": torch.ones(4, 4), "obj_ids": torch.zeros(4, 1, 2, dtype=torch.long),
             "obj_mask": torch.ones(4, 1, dtype=torch.bool), "key": torch.tensor([0, 1, 0, 1])}
    all_gray = phase1_losses(stve, heads, {**batch, "gray": torch.ones(4, dtype=torch.bool)})
    assert all_gray["clip"].item() == 0.0 and torch.isfinite(all_gray["total"])  # no colour left to contrast
    # colour head gets no gradient from gray tiles; kind head does
    all_gray["total"].backward()
    assert heads.colour.weight.grad is None or heads.colour.weight.grad.abs().sum() == 0
    assert heads.kind.weight.grad.abs().sum() > 0


def test_hue_rotation_keeps_luminance_and_drops_colour_labels():
    red = torch.tensor([150.0, 60.0, 70.0]).view(1, 3, 1, 1).expand(3, 3, 4, 4)
    out = rotate_hue(red, torch.tensor([0.0, 2.0, 4.0]))
    assert torch.allclose(out[0], red[0], atol=1e-3)  # angle 0: unchanged
    luma = lambda x: (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)  # noqa: E731
    assert torch.allclose(luma(out), luma(red), atol=0.5)  # luminance kept (no clipping here)
    assert (out[1] - red[1]).abs().max() > 30  # the hue moved
    cfg = TriStreamConfig.preset("tiny").vision
    stve = SparseTemporalVisionEncoder(cfg.replace(channels_last=False))
    heads = Phase1Heads(cfg.token_dim, 16)
    batch = {"tiles": torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8), "colour": torch.randint(1, 8, (2, 4)),
             "kind": torch.randint(0, 6, (2, 4)), "salient": torch.ones(2, 4),
             "obj_ids": torch.zeros(2, 1, 2, dtype=torch.long), "obj_mask": torch.ones(2, 1, dtype=torch.bool),
             "key": torch.tensor([0, 1]), "hue": torch.tensor([1.0, 2.0])}
    losses = phase1_losses(stve, heads, batch)
    losses["total"].backward()
    assert heads.colour.weight.grad is None or heads.colour.weight.grad.abs().sum() == 0


def test_extra_scenes_are_deterministic_and_keep_heldout_pairs_out():
    from tristream_ros.data.dataset import HELDOUT_COMBOS
    a = extra_scenes(3, 12, 256, processes=1)
    b = extra_scenes(3, 12, 256, processes=1)
    assert len(a) == 12 and all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert a[0][0].shape == (256, 256, 3) and a[0][0].dtype == np.uint8
    assert not any((o["colour"], o["kind"]) in HELDOUT_COMBOS for _, objs in a for o in objs)
    cfg = TriStreamConfig.preset("demo").vision
    data = load_tiles(a, cfg)
    assert data["tiles"].shape == (12 * 16, 3, 64, 64) and data["colour"].shape == (12 * 16, 4)
    batch = sample_batch(data, 32, torch.Generator().manual_seed(0), grayscale_rate=0.3, hue_rate=0.5)
    assert 0 < int(batch["gray"].sum()) < 32 and 0 < int((batch["hue"] != 0).sum()) < 32
    assert not (batch["gray"] & (batch["hue"] != 0)).any()  # one colour augmentation per tile
    assert int(data["has_object"].sum()) > 0


def test_unnamed_colour_scenes_train_kind_only():
    from tristream_ros.data.dataset import HELDOUT_COMBOS
    from tristream_ros.data.scenes import COLOURS, UNNAMED_COLOURS
    a = extra_scenes(3, 6, 256, processes=1, unnamed=True)
    assert len(a) == 6 and all(np.array_equal(x[0], y[0]) for x, y in zip(a, extra_scenes(3, 6, 256, processes=1, unnamed=True)))
    objs = [o for _, os_ in a for o in os_]
    assert all(o["colour"] in UNNAMED_COLOURS and o["colour"] not in COLOURS for o in objs)
    assert not any((o["colour"], o["kind"]) in HELDOUT_COMBOS for o in objs)
    named = extra_scenes(3, 6, 256, processes=1)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, named))  # a stream of its own
    cfg = TriStreamConfig.preset("demo").vision
    data = load_tiles(a + named, cfg)
    n = 6 * 16
    assert data["unnamed"][:n].any() and not data["unnamed"][n:].any()
    assert (data["colour"][:n] <= 0).all() and (data["kind"][:n] > 0).any()  # kind labels, no colour labels
    # the colour head and the contrastive loss get nothing from unnamed-colour tiles; the kind head does
    tiny = TriStreamConfig.preset("tiny").vision
    stve = SparseTemporalVisionEncoder(tiny.replace(channels_last=False))
    heads = Phase1Heads(tiny.token_dim, 16)
    batch = {"tiles": torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8), "colour": -torch.ones(2, 4, dtype=torch.long),
             "kind": torch.randint(1, 6, (2, 4)), "salient": torch.ones(2, 4),
             "obj_ids": torch.zeros(2, 1, 2, dtype=torch.long), "obj_mask": torch.zeros(2, 1, dtype=torch.bool),
             "key": torch.tensor([0, 1]), "unnamed": torch.ones(2, dtype=torch.bool)}
    losses = phase1_losses(stve, heads, batch, debias=True)
    assert losses["clip"].item() == 0.0 and torch.isfinite(losses["total"])
    losses["total"].backward()
    assert heads.colour.weight.grad is None or heads.colour.weight.grad.abs().sum() == 0
    assert heads.kind.weight.grad.abs().sum() > 0


def test_speech_pool_is_deterministic_spoken_training_speech(tmp_path):
    from tristream_ros.data.dataset import pool_rng, speech_pool_sample
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.speech_synth import variants_for_split
    from tristream_ros.training.speech_pool import speech_pool
    mel, text = speech_pool(4, 6, 80, tmp_path, processes=1, progress=False)
    assert 0 < len(mel) <= 6 and set(mel) == set(text)
    train_queries = set(all_queries("train"))
    for sid, m in mel.items():
        assert sid.startswith("speechpool-") and m.ndim == 2 and m.shape[1] == 80 and m.dtype == np.float16
        assert text[sid] in train_queries  # training phrasings only
    again, _ = speech_pool(4, 6, 80, tmp_path, processes=1, progress=False)  # from the cache
    assert all(np.array_equal(mel[k], again[k]) for k in mel)
    # a larger pool of the same seed extends the cached one: the first 6 items are the same
    more, more_text = speech_pool(4, 9, 80, tmp_path, processes=1, progress=False)
    assert set(mel) <= set(more) and all(np.array_equal(mel[k], more[k]) for k in mel)
    assert all(int(k.split("-")[1]) < 9 for k in more) and set(more) == set(more_text)
    fresh, _ = speech_pool(4, 9, 80, tmp_path / "fresh", processes=1, progress=False)  # synthesized whole
    assert set(fresh) == set(more) and all(np.array_equal(fresh[k], more[k]) for k in more)
    s = speech_pool_sample(4, next(int(k.split("-")[1]) for k in mel))
    assert s["voice"]["variant"] in variants_for_split("train")
    with pytest.raises(Exception, match="split"):
        pool_rng(0, 2, 0)  # the test split's stream is not a pool's


def test_needed_route_sends_followups_to_the_cheapest_expert_that_reads_the_context():
    # configs before fusion.context_routes: only the trimodal expert reads the previous turn
    typed = {"route": "vision", "intent": "go_to_it", "context": "where is the ball <sep> ...", "spoken": False}
    spoken = dict(typed, route="trimodal", spoken=True)
    assert needed_route(typed) == "trimodal" and needed_route(spoken) == "trimodal"
    assert needed_route({"route": "vision", "intent": "count", "context": ""}) == "vision"
    assert needed_route({"route": "speech", "intent": "stop", "context": ""}) == "speech"
    demo = TriStreamConfig.preset("demo").fusion  # the vision experts read it too
    assert needed_route(typed, demo) == "vision" and needed_route(spoken, demo) == "speech_vision"
    assert needed_route({"route": "speech", "intent": "stop", "context": ""}, demo) == "speech"


def test_reject_answer_changes_exactly_one_fact():
    rng = random.Random(0)
    for ans in ("the ball is red", "there are two cups", "the red box is on the left", "yes there is a red cup"):
        bad = reject_answer(ans, rng, ["stopping"])
        assert bad != ans and len(bad.split()) == len(ans.split())
        assert sum(a != b for a, b in zip(ans.split(), bad.split())) == 1
    assert reject_answer("stopping", rng, ["stopping", "turning left"]) == "turning left"


def test_cer_and_word_noise():
    assert char_error_rate("turn left", "turn left") == 0.0
    assert char_error_rate("turn left", "turn lift") == pytest.approx(1 / 9)
    assert char_error_rate("", "x") == 1.0
    rng = np.random.default_rng(0)
    noisy = [word_noise("go to the red ball", rng, 0.5, ["cup", "blue"]) for _ in range(20)]
    assert any(n != "go to the red ball" for n in noisy)
    assert word_noise("go to the red ball", rng, 0.0, ["cup"]) == "go to the red ball"


def _rows():
    return [
        {"id": "a", "query": "stop", "answer": "stopping", "context": "", "route": "speech", "intent": "stop",
         "action": "stop", "target_uv": None, "spoken": True},
        {"id": "b", "query": "go to the red ball", "answer": "going to the red ball", "context": "",
         "route": "speech_vision", "intent": "go_to", "action": "navigate_to", "target_uv": (0.3, 0.6), "spoken": True},
        {"id": "c", "query": "what colour is the cup", "answer": "the cup is blue", "context": "",
         "route": "vision", "intent": "colour_of", "action": "none", "target_uv": None, "spoken": False},
    ]


def test_fusion_batches_train_the_tiny_model_and_give_answer_logprobs():
    tok = build_tokenizer()
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    rows = _rows()
    n, d = cfg.vision_grid[0] * cfg.vision_grid[1], cfg.vision_dim
    rng = np.random.default_rng(0)
    vision = {"ids": np.array([r["id"] for r in rows]), "features": rng.normal(size=(3, n, d)).astype(np.float16),
              "importance": rng.random((3, n)).astype(np.float16), "sparse_mask": rng.random((3, n)) < 0.3}
    tokens = {"a": rng.normal(size=(3, cfg.speech_dim)).astype(np.float16),
              "b": rng.normal(size=(5, cfg.speech_dim)).astype(np.float16)}
    data = FusionData(cfg, tok, rows, {"a": "stop", "b": "go to the bed ball"}, tokens, vision,
                      Phase2Options(extra_turn_rate=0.0))
    model = build_model(cfg, tok, None)
    assert not any(p.requires_grad for p in model.vision.parameters())  # STVE frozen in phase 2
    batch = data.batch([0, 1, 2], random.Random(0))
    assert batch["speech_mask"][2].sum() == 0 and batch["speech_mask"][1].sum() == 5
    assert batch["route"].tolist() == [0, 2, 1]
    model.train()
    out, losses = model.forward_train(batch, modal_dropout=0.0, input_dropout=0.0)
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    lp = answer_logprobs(model, batch, out)
    assert lp.shape == (3,) and bool((lp < 0).all())


def test_extra_turns_are_about_the_cached_scene_and_use_train_phrasings():
    from tristream_ros.data import language

    tok = build_tokenizer()
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    row = dict(_rows()[1], objects=[{"kind": "ball", "colour": "red", "size": "medium", "bbox": [10, 100, 40, 130],
                                     "centre_uv": [0.1, 0.45], "region": "left", "bboxes": [[10, 100, 40, 130]]}])
    n = cfg.vision_grid[0] * cfg.vision_grid[1]
    vision = {"ids": np.array(["b"]), "features": np.zeros((1, n, cfg.vision_dim), np.float16),
              "importance": np.zeros((1, n), np.float16), "sparse_mask": np.ones((1, n), bool)}
    data = FusionData(cfg, tok, [row], {}, {}, vision, Phase2Options())
    train_queries = set(language.all_queries("train"))
    rng = random.Random(1)
    for _ in range(20):
        t = data.extra_turn(0, rng)
        assert t["route"] in ("speech", "vision") and not t["spoken"]
        assert t["target_uv"] is None or t["target_uv"] == (0.1, 0.45)
        if "ball" in t["answer"] and "red" in t["answer"]:
            break
    data.opts = Phase2Options(word_noise_rate=0.0)
    t = data.extra_turn(0, random.Random(3))
    assert t["query"] in train_queries or t["context"]


def test_scene_pool_tokens_and_typed_turns_about_pool_scenes(tmp_path):
    """Phase 2's scene-only pool: STVE tokens + objects cached per pool scene; a batch slot on a
    pool scene always gets a typed turn about that scene's objects."""
    from tristream_ros.training.phase2_alignment import vision_tokens
    tok = build_tokenizer()
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    stve = SparseTemporalVisionEncoder(cfg.vision)
    pool = vision_tokens(stve.state_dict(), cfg, None, "extra", tmp_path, processes=1, progress=False, seed=2, extra=3)
    assert list(pool["ids"]) == ["extra-000000", "extra-000001", "extra-000002"]
    assert pool["features"].shape[:2] == (3, cfg.vision_grid[0] * cfg.vision_grid[1])
    assert (tmp_path / "vision_extra_s2_n3.npz").is_file()
    objects = [__import__("json").loads(str(o)) for o in pool["objects"]]
    assert all(len(o) >= 1 for o in objects)
    extra_rows = [{"id": str(i), "objects": o} for i, o in zip(pool["ids"], objects)]
    n = pool["features"].shape[1]
    vision = {"ids": np.concatenate([np.array(["b"]), pool["ids"]]),
              "features": np.concatenate([np.zeros((1, n, cfg.vision_dim), np.float16), pool["features"]]),
              "importance": np.concatenate([np.zeros((1, n), np.float16), pool["importance"]]),
              "sparse_mask": np.concatenate([np.ones((1, n), bool), pool["sparse_mask"]])}
    row = dict(_rows()[1], objects=objects[0])
    data = FusionData(cfg, tok, [row], {}, {}, vision, Phase2Options(extra_scene_rate=1.0, extra_turn_rate=0.0),
                      extra_rows)
    rng = random.Random(0)
    idx = [data.sample_index(rng) for _ in range(6)]
    assert all(1 <= i <= 3 for i in idx)  # rate 1: pool scenes only
    b = data.batch(idx, rng)
    assert len(b["answer_texts"]) == 6
    for slot, i in enumerate(idx):  # each slot reads its own pool scene's tokens
        assert torch.equal(b["vision_features"][slot], torch.from_numpy(pool["features"][i - 1].astype(np.float32)))
    assert data.batch([0], rng)["answer_texts"] == [row["answer"]]  # dataset slot, extra_turn_rate 0: as is


def test_ctc_pool_finetune_runs_a_second_stage_on_dataset_plus_pool(tmp_path):
    from pathlib import Path

    from tristream_ros.data.dataset import generate_dataset
    from tristream_ros.training.cache import RunCache
    from tristream_ros.training.phase2_alignment import train_ctc
    generate_dataset(tmp_path / "data", {"train": 4, "val": 0, "test": 0}, processes=1)
    cache = RunCache(tmp_path / "data", tmp_path / "cache")
    cfg = TriStreamConfig.preset("tiny")
    out = Path(tmp_path / "p2")
    out.mkdir()
    opts = Phase2Options(ctc_steps=2, ctc_batch=2, speech_pool=3, ctc_pool_finetune_steps=2, speech_pool_second=0)
    speech, summary = train_ctc(cfg, cache, out, opts, 0, False, False, build_tokenizer(), processes=1)
    assert summary["steps"] == 2 and summary["pool_finetune"]["steps"] == 2 and "pool_second" not in summary
    assert (out / "phase2_speech_state.json").is_file() and (out / "phase2_speech_pool_state.json").is_file()
    assert (out / "speech.safetensors").is_file() and not speech.training
    # a second fine-tuning stage on a grown pool resumes the first two (their states are there)
    (out / "speech.safetensors").unlink()
    first = json.loads((out / "phase2_speech_pool_state.json").read_text())["history"]
    opts = Phase2Options(ctc_steps=2, ctc_batch=2, speech_pool=3, ctc_pool_finetune_steps=2, speech_pool_second=3,
                         ctc_pool_second_steps=2)
    speech, summary = train_ctc(cfg, cache, out, opts, 0, True, False, build_tokenizer(), processes=1)
    assert summary["pool_second"]["steps"] == 2 and (out / "phase2_speech_pool2_state.json").is_file()
    assert json.loads((out / "phase2_speech_pool_state.json").read_text())["history"] == first  # not retrained
    assert (out / "speech_pool_s0_n6.npz").is_file()
