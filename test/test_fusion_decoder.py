"""Fusion decoder: KV cache equals full recompute, padding/mixed-route batches, vision gating."""
import torch

from tristream_ros.model.config import ROUTE_INDEX, FusionConfig, TriStreamConfig
from tristream_ros.model.fusion.decoder import FusionDecoder, KVCache, VisionContext
from tristream_ros.model.fusion.experts import RouteAdapters

torch.set_num_threads(1)


def _decoder(**kw):
    torch.manual_seed(0)
    cfg = FusionConfig(vocab_size=50, hidden_size=32, num_layers=4, num_heads=4, num_kv_heads=2,
                       intermediate_size=64, expert_rank=4, **kw)
    dec = FusionDecoder(cfg).eval()
    # non-zero gates / adapters so every path actually contributes
    with torch.no_grad():
        for name, p in dec.named_parameters():
            if name.endswith(("gate", "alpha", "down")) and "proj" not in name:
                p.normal_(0, 0.5)
    return dec


def _vision(B=1, N=5, d=32):
    tok = torch.randn(B, N, d)
    return VisionContext(tokens=tok, mask=torch.ones(B, N, dtype=torch.bool), pooled=tok.mean(1))


def test_cross_attention_layout_fractions():
    demo = TriStreamConfig.preset("demo").fusion
    assert len(demo.cross_attn_layers) == 1 and demo.num_layers == 8  # 12.5%
    assert set(demo.cross_attn_layers) <= set(demo.trimodal_cross_attn_layers)
    omni = TriStreamConfig.preset("omni-0.5b").fusion
    assert len(omni.cross_attn_layers) == 3 and len(omni.trimodal_cross_attn_layers) == 6  # 12.5% / 25% of 24
    dec = _decoder()
    n_x = sum(layer.cross_attn is not None for layer in dec.layers)
    assert n_x == len(dec.cfg.trimodal_cross_attn_layers)


def test_kv_cache_matches_full_forward():
    dec = _decoder()
    x = torch.randn(1, 9, 32)
    for route in ("speech", "speech_vision", "trimodal"):
        r = torch.tensor([ROUTE_INDEX[route]])
        vis = _vision()
        full = dec(x, r, vision=vis)
        cache = KVCache.empty(4)
        parts = [dec(x[:, :6], r, vision=vis, cache=cache)]
        for t in range(6, 9):
            parts.append(dec(x[:, t:t + 1], r, vision=vis, cache=cache))
        torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)
        assert cache.length == 9


def test_speech_route_ignores_vision_and_vision_routes_use_it():
    dec = _decoder()
    x = torch.randn(1, 7, 32)
    speech = torch.tensor([ROUTE_INDEX["speech"]])
    torch.testing.assert_close(dec(x, speech, vision=_vision()), dec(x, speech))
    sv = torch.tensor([ROUTE_INDEX["speech_vision"]])
    assert not torch.allclose(dec(x, sv, vision=_vision()), dec(x, sv, vision=_vision()))


def test_mixed_route_padded_batch_matches_single_examples():
    dec = _decoder()
    torch.manual_seed(1)
    lens = [7, 4, 6]
    routes = torch.tensor([ROUTE_INDEX[r] for r in ("speech", "speech_vision", "trimodal")])
    T = max(lens)
    x = torch.randn(3, T, 32)
    vis = _vision(B=3, N=5)
    vis.mask[1, 3:] = False  # fewer kept tokens for one example
    valid = torch.tensor([[t < n for t in range(T)] for n in lens])
    mask = (torch.ones(T, T, dtype=torch.bool).tril()[None] & valid[:, None, :])[:, None]
    out = dec(x, routes, positions=torch.arange(T), attn_mask=mask, vision=vis)
    for b, n in enumerate(lens):
        vb = VisionContext(vis.tokens[b:b + 1, vis.mask[b]], vis.mask[b:b + 1, vis.mask[b]], vis.pooled[b:b + 1])
        single = dec(x[b:b + 1, :n], routes[b:b + 1], vision=vb)
        torch.testing.assert_close(out[b, :n], single[0], atol=1e-5, rtol=1e-4)


def test_adapter_gather_equals_per_route():
    torch.manual_seed(0)
    ad = RouteAdapters(16, 4, 4)
    with torch.no_grad():
        ad.down.normal_()
    x = torch.randn(3, 5, 16)
    routes = torch.tensor([0, 3, 1])
    mixed = ad(x, routes)
    for b in range(3):
        torch.testing.assert_close(mixed[b:b + 1], ad(x[b:b + 1], routes[b:b + 1]))


def test_ffn_experts_and_gradients_reach_each_expert():
    dec = _decoder(expert_kind="ffn").train()
    x = torch.randn(2, 5, 32)
    out = dec(x, torch.tensor([0, 2]), vision=_vision(B=2))
    dec.logits(out).sum().backward()
    g = dec.layers[0].experts.gate.grad
    assert g[0].abs().sum() > 0 and g[2].abs().sum() > 0
    assert g[1].abs().sum() == 0 and g[3].abs().sum() == 0


def test_stacked_cache_roundtrip():
    dec = _decoder()
    x = torch.randn(1, 6, 32)
    r = torch.tensor([0])
    cache = KVCache.empty(4)
    dec(x[:, :5], r, cache=cache)
    k, v = cache.stacked()
    assert k.shape == (4, 1, 2, 5, 8)
    again = KVCache.from_stacked(k, v)
    torch.testing.assert_close(dec(x[:, 5:], r, cache=again), dec(x[:, 5:], r, cache=cache))
