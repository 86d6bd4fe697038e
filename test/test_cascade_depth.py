"""Depth-cascaded experts: each route runs the shared trunk only up to its exit layer."""
import dataclasses
import json

import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.checkpoint import load_checkpoint, save_checkpoint
from tristream_ros.model.config import DEFAULT_EXIT_FRACTIONS, ROUTE_INDEX, ROUTES, FusionConfig, TriStreamConfig
from tristream_ros.model.fusion.cascade import CascadeTrace, route_cost, trace_costs
from tristream_ros.model.fusion.decoder import KVCache
from tristream_ros.model.text_tokenizer import SPECIALS, TextTokenizer
from tristream_ros.model.tristream_model import Done, Query, TriStreamModel

torch.set_num_threads(1)


def _model(exits=True, dense=True, seed=0):
    torch.manual_seed(seed)
    cfg = TriStreamConfig.preset("tiny")
    if exits:
        cfg.fusion = dataclasses.replace(cfg.fusion, route_exit_fractions=DEFAULT_EXIT_FRACTIONS,
                                         trimodal_dense_vision=True)
    else:
        cfg.fusion = dataclasses.replace(cfg.fusion, route_exit_fractions=None, trimodal_dense_vision=dense)
    tok = TextTokenizer(list(SPECIALS) + [f"w{i}" for i in range(cfg.fusion.vocab_size - len(SPECIALS))])
    model = TriStreamModel(cfg, tok).eval()
    for n in model.decoder.exit_norms.values():  # not all-ones, so a wrong norm shows
        torch.nn.init.normal_(n.weight, 1.0, 0.2)
    return model


def _vision(model, n=5):
    idx = torch.arange(n)[None]
    return model.project_vision(torch.randn(1, n, model.config.vision_dim), idx // 8, idx % 8,
                                torch.ones(1, n, dtype=torch.bool), None)


def _manual(dec, x, r, vis, depth, norm):
    cos_sin = __import__("tristream_ros.model.fusion.decoder", fromlist=["rope_cos_sin"]).rope_cos_sin
    cos, sin = cos_sin(torch.arange(x.shape[1]), dec.cfg.head_dim, dec.cfg.rope_theta)
    rt = torch.tensor([r])
    v = vis if ROUTES[r] != "speech" else None
    for layer in dec.layers[:depth]:
        x = layer(x, cos, sin, None, rt, r, v, None)
    return norm(x)


def test_presets_exit_layers_and_cross_attention_inside_depth():
    want = {"tiny": (1, 3, 3, 4), "demo": (1, 3, 3, 8), "omni-0.5b": (3, 9, 9, 24)}
    assert TriStreamConfig.preset("tiny").fusion.route_exit_fractions is None  # full depth (node tests)
    for name, exits in want.items():
        f = dataclasses.replace(TriStreamConfig.preset(name).fusion, route_exit_fractions=DEFAULT_EXIT_FRACTIONS)
        assert f.exits == exits
        for r in ("vision", "speech_vision"):
            assert any(i < f.exit_layer(r) for i in f.cross_attn_layers)
        assert len(f.trimodal_cross_attn_layers) > len(f.cross_attn_layers) or name == "tiny"
    # a shallower trunk still reaches a cross-attention layer on vision routes
    f = dataclasses.replace(TriStreamConfig.preset("tiny").fusion, num_layers=2,
                            route_exit_fractions=DEFAULT_EXIT_FRACTIONS)
    assert f.exit_layer("speech_vision") > min(f.cross_attn_layers)


def test_bad_exit_fractions_are_refused():
    with pytest.raises(InputError, match="route_exit_fractions"):
        FusionConfig(route_exit_fractions=(0.5, 0.5, 0.5, 0.5))  # trimodal not full depth
    with pytest.raises(InputError, match="route_exit_fractions"):
        FusionConfig(route_exit_fractions=(0.5, 0.25, 0.5, 1.0))  # speech deeper than vision
    with pytest.raises(InputError, match="route_exit_fractions"):
        FusionConfig(route_exit_fractions=(0.1, 0.5, 1.0))


@pytest.mark.parametrize("route", ROUTES)
def test_route_runs_only_its_layers_and_reads_its_exit_norm(route):
    model = _model()
    dec, r = model.decoder, ROUTE_INDEX[route]
    calls = []
    hooks = [layer.register_forward_hook(lambda m, i, o, k=k: calls.append(k)) for k, layer in enumerate(dec.layers)]
    x = torch.randn(1, 7, dec.cfg.hidden_size)
    vis = _vision(model)
    with torch.no_grad():
        h = dec(x, torch.tensor([r]), vision=vis if route != "speech" else None)
    for hk in hooks:
        hk.remove()
    depth = dec.cfg.exit_layer(route)
    assert calls == list(range(depth))
    with torch.no_grad():
        ref = _manual(dec, x, r, vis, depth, dec.exit_norm(r))
    torch.testing.assert_close(h, ref)
    assert (dec.exit_norm(r) is dec.norm) == (route == "trimodal")


@pytest.mark.parametrize("route", ROUTES)
def test_kv_cache_steps_match_full_recompute(route):
    model = _model()
    dec, r = model.decoder, ROUTE_INDEX[route]
    rt, vis = torch.tensor([r]), _vision(model)
    vis = vis if route != "speech" else None
    x = torch.randn(1, 9, dec.cfg.hidden_size)
    with torch.no_grad():
        full = dec(x, rt, vision=vis)
        cache = KVCache.empty(dec.cfg.num_layers)
        parts = [dec(x[:, :6], rt, vision=vis, cache=cache)]
        for t in range(6, 9):
            parts.append(dec(x[:, t:t + 1], rt, vision=vis, cache=cache))
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)
    k, v = cache.stacked()  # every layer keeps the same length (skipped layers: zeros)
    assert k.shape[3] == 9
    assert float(k[dec.cfg.exit_layer(route):].abs().sum()) == 0.0


def test_mixed_route_batch_equals_single_routes():
    model = _model()
    dec = model.decoder
    x = torch.randn(4, 6, dec.cfg.hidden_size)
    vis = _vision(model)
    vis4 = type(vis)(vis.tokens.expand(4, -1, -1), vis.mask.expand(4, -1), vis.pooled.expand(4, -1))
    with torch.no_grad():
        mixed = dec(x, torch.arange(4), vision=vis4)
        for r in range(4):
            one = dec(x[r:r + 1], torch.tensor([r]), vision=vis if ROUTES[r] != "speech" else None)
            torch.testing.assert_close(mixed[r:r + 1], one, atol=1e-5, rtol=1e-5)


def test_old_config_without_the_key_loads_and_runs_full_depth(tmp_path):
    model = _model(exits=False, dense=False)
    assert model.decoder.cfg.exits == (4, 4, 4, 4) and len(model.decoder.exit_norms) == 0
    save_checkpoint(model, tmp_path)
    cfg_path = tmp_path / "config.json"
    data = json.loads(cfg_path.read_text())
    for key in ("route_exit_fractions", "trimodal_dense_vision"):
        data["fusion"].pop(key)  # written before the option existed
    cfg_path.write_text(json.dumps(data))
    old = load_checkpoint(tmp_path)  # strict: no exit-norm tensors expected
    assert old.config.fusion.route_exit_fractions is None and not old.config.fusion.trimodal_dense_vision
    dec = old.decoder
    x = torch.randn(1, 5, dec.cfg.hidden_size)
    vis = _vision(old)
    for r, name in enumerate(ROUTES):
        with torch.no_grad():
            h = dec(x, torch.tensor([r]), vision=vis if name != "speech" else None)
            ref = _manual(dec, x, r, vis, dec.cfg.num_layers, dec.norm)
        torch.testing.assert_close(h, ref)
    # and the cost accounting is the full-depth one for every route
    f = old.config
    assert route_cost(f, "speech", 10, 3).prefill == pytest.approx(
        route_cost(dataclasses.replace(f, fusion=dataclasses.replace(f.fusion, route_exit_fractions=(1.0,) * 4)),
                   "speech", 10, 3).prefill)


def test_cost_counts_only_layers_run_and_failed_attempts():
    cfg = TriStreamConfig.preset("demo")
    full = dataclasses.replace(cfg, fusion=dataclasses.replace(cfg.fusion, route_exit_fractions=None))
    lm_head = 2 * cfg.fusion.hidden_size * cfg.fusion.vocab_size
    s_cut = route_cost(cfg, "speech", 20, 0).prefill - lm_head
    s_full = route_cost(full, "speech", 20, 0).prefill - lm_head
    assert s_cut == pytest.approx(s_full * 1 / 8)
    costs = [route_cost(cfg, r, 20, 5, 17, 1e8).total for r in ("speech", "speech_vision", "trimodal")]
    assert costs[0] < costs[1] < costs[2]
    # trimodal reads the dense grid (64 tokens); a sparse trimodal would be cheaper
    assert route_cost(cfg, "trimodal", 20, 5, 64).total > route_cost(cfg, "trimodal", 20, 5, 17).total
    # escalation: every failed attempt's prefill is paid, decode only by the answering expert
    lens = {r: 20 for r in ROUTES}
    trace = CascadeTrace("trimodal", 0.9, attempts=[("speech", 0.1), ("speech_vision", 0.2), ("trimodal", 0.9)])
    trace_costs(cfg, trace, lens, 5, 17, 1e8)
    want = (route_cost(cfg, "speech", 20, 5, include_decode=False).total
            + route_cost(cfg, "speech_vision", 20, 5, 17, 1e8, include_decode=False).total
            + route_cost(cfg, "trimodal", 20, 5, 64, 0.0).total)
    assert trace.flops == pytest.approx(want)


def test_answer_events_and_flops_with_exits():
    model = _model()
    q = Query(text="w1 w2", speech_tokens=torch.randn(4, model.config.speech_dim),
              vision=torch.zeros(1, 64, 64, 3, dtype=torch.uint8).numpy(), context_text="w3")
    model.config.cascade = dataclasses.replace(model.config.cascade, start="cheapest", escalate_below=1.0)
    events = list(model.answer(q, max_new_tokens=3))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RouteChosen" and kinds[1] == "Action" and kinds[-1] == "Done"
    done = events[-1]
    assert isinstance(done, Done) and done.trace.route == "trimodal" and done.trace.escalations == 2
    assert done.flops > 0 and len(done.trace.costs) == 3
    # the trimodal attempt read the dense grid, the speech_vision attempt the sparse tokens
    dense_tokens = model.config.vision.dense_tokens
    tri = done.trace.costs[2]
    assert tri.vision_projection > done.trace.costs[1].vision_projection
    assert tri.vision_encoder == 0.0 and done.trace.costs[1].vision_encoder >= 0.0
    assert dense_tokens == 64


def _batch(cfg, B=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = cfg.vision_grid[0] * cfg.vision_grid[1]
    routes = [0, 2, 1, 3, 0, 2][:B]
    V = cfg.fusion.vocab_size
    return {"query_ids": [[5 + (i + j) % (V - 5) for j in range(3)] for i in range(B)],
            "answer_ids": [[6 + (2 * i + j) % (V - 6) for j in range(2)] for i in range(B)],
            "context_ids": [[7, 8] if r == 3 else [] for r in routes],
            "speech_tokens": torch.randn(B, 4, cfg.speech_dim, generator=g),
            "speech_mask": torch.tensor([[r != 1] * 4 for r in routes]),
            "vision_features": torch.randn(B, n, cfg.vision_dim, generator=g),
            "vision_mask": torch.rand(B, n, generator=g) < 0.3,
            "has_vision": torch.ones(B, dtype=torch.bool), "route": torch.tensor(routes),
            "action": torch.tensor([i % 8 for i in range(B)]),
            "target_uv": torch.rand(B, 2, generator=g), "has_target": torch.tensor([False] * B)}


def test_distill_exits_adapts_an_old_model_and_leaves_trimodal_unchanged():
    from tristream_ros.training.cascade_distill import DistillOptions, cascade_eval, distill_exits

    old = _model(exits=False, dense=False)
    batch = _batch(old.config)
    log = []
    new = distill_exits(old, [batch], steps=12, options=DistillOptions(lr=1e-2, batch_size=6), log=log,
                        progress=False)
    assert old.config.fusion.route_exit_fractions is None  # the input model is left as it was
    assert new.config.fusion.exits == (1, 3, 3, 4) and new.config.fusion.trimodal_dense_vision
    assert log[-1]["total"] < log[0]["total"]
    # trimodal parameters are untouched: the teacher's expert answers exactly as before
    tri_old = dict(old.state_dict())
    for k, v in new.state_dict().items():
        if k.startswith("decoder.exit_norms."):
            continue
        if k.endswith(("experts.gate", "experts.up", "experts.down")) or k in (
                "route_embed.weight", "sufficiency.weight", "sufficiency.bias"):
            torch.testing.assert_close(v[3], tri_old[k][3], rtol=0, atol=0)
        else:
            torch.testing.assert_close(v, tri_old[k], rtol=0, atol=0)
    rep = cascade_eval(new, [batch])
    assert rep["n"] == 6 and 0.0 <= rep["answer_exact_match"] <= 1.0
    assert rep["decoder_flops_reduction_vs_trimodal"] > 0.0


@pytest.mark.parametrize("route", ["speech", "speech_vision", "trimodal"])
def test_onnx_decoder_step_matches_pytorch_with_exits(tmp_path, route):
    """One decoder graph for every route: skipped layers are masked (x unchanged, zero K/V) and
    the route's exit norm is read; ONNX Runtime fp32 = PyTorch for prefill + cached steps."""
    import numpy as np
    from tristream_ros.model.speech.speech_model import SpeechModel
    from tristream_ros.runtime.export_onnx import export_model
    from tristream_ros.runtime.inference import DecoderVision, OnnxInference, TorchInference

    model = _model()
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            if name.endswith(("gate", "alpha", "down")) and "proj" not in name:
                p.normal_(0, 0.5)
    speech = SpeechModel(model.config.speech).eval()
    export_model(model, tmp_path, speech_model=speech, parts=("decoder",), progress=False)
    inf_t, inf_o = TorchInference(model, speech), OnnxInference(tmp_path)
    rng = np.random.default_rng(0)
    d = model.config.fusion.hidden_size
    vis = None if route == "speech" else DecoderVision(rng.standard_normal((4, d)).astype(np.float32),
                                                       np.ones(4, bool), rng.standard_normal(d).astype(np.float32))
    ids, ct, co = [1, 4, 7, 9, 4], None, None
    for _ in range(3):
        ot = inf_t.decoder_step(ids, route, ct, vision=vis)
        oo = inf_o.decoder_step(ids, route, co, vision=vis)
        for a, b in ((ot.logits, oo.logits), (ot.hidden, oo.hidden), (ot.cache.key, oo.cache.key)):
            np.testing.assert_allclose(b, a, atol=1e-4, rtol=1e-4)
        ct, co, ids = ot.cache, oo.cache, [int(ot.logits.argmax())]
