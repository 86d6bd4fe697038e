"""ONNX export of the three edge graphs: vision tile encoder, speech encoder chunk, decoder step.

Each graph is a small ``nn.Module`` wrapper over the trained modules (same parameters, no
copies) whose inputs and outputs are plain tensors, so that ONNX Runtime can run it and the
state (KV caches, conv context) lives with the caller (``runtime/inference.py``):

    vision_encoder.onnx   tiles (n, 3, t, t) RGB 0..255 -> features (n, D, t/32, t/32)
                          (the MobileViT backbone of STVE; tile cache, pooling, scoring stay in Python)
    speech_encoder.onnx   one streaming chunk of the Whisper-shaped encoder:
                          mel (1, T, n_mels) T even, ctx1 (1, n_mels, 2), ctx2 (1, D, 2),
                          offset () int64 (encoder frames already emitted),
                          past_key / past_value (L, 1, H, P, hd), P <= left_context_frames
                          -> hidden (1, T/2, D), ctc_hidden (1, T/2, D), ctx1, ctx2,
                             present_key / present_value (L, 1, H, min(P + T/2, left), hd)
    decoder_step.onnx     prefill or one decode step of the fusion decoder with its KV cache:
                          input_ids (1, T) int64 (-1 = position given by inputs_embeds only),
                          inputs_embeds (1, T, d) added to the word embeddings (speech tokens),
                          route () int64 (ROUTES index; adds the route embedding, picks the expert
                          and the vision path), vision_tokens (1, N, d), vision_mask (1, N) bool,
                          vision_pooled (1, d) (the projected VisionContext; N >= 1, ignored on the
                          "speech" route), past_key / past_value (L, 1, kvH, P, hd)
                          -> logits (1, V) of the last position, hidden (1, d) of the last
                             position (final norm), present_key / present_value (L, 1, kvH, P + T, hd)

The decoder graph selects per-layer vision paths with route-indexed 0/1 tables instead of
Python branches, so one file serves all four experts; adding ``0 * y`` for a path a route does
not use leaves the sum exactly unchanged. Cross-attention K/V of the vision tokens are
recomputed each step (N <= 17 tokens in a few layers) rather than cached. With tied
embeddings the word embeddings are read from the LM head's (d, V) matrix, so the table is
stored once.

Exporters: "torchscript" (default, seconds per graph) or "dynamo" (``torch.export``; what the
HF-style Qwen2 decoder needed, 30-50 s per graph here). The graphs avoid what tracing cannot
handle (K/V heads are repeated instead of SDPA's ``enable_gqa``). Either way the weights go to
one ``<name>.onnx.data`` file beside each graph: count both in sizes (``model_bytes``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.model.config import ROUTES, VISION_ROUTES
from tristream_ros.model.fusion.decoder import apply_rope, rope_cos_sin
from tristream_ros.runtime.manifest import (DECODER_FILE, MANIFEST_FILE, SPEECH_FILE, VISION_FILE, ExportManifest,
                                            model_bytes)

OPSET = 18
_TRIMODAL = ROUTES.index("trimodal")


# --- graphs -----------------------------------------------------------------------------------
class VisionTileGraph(nn.Module):
    """STVE backbone over a batch of tiles (RGB on the 0..255 scale, like ``encode_tiles``)."""

    def __init__(self, stve):
        super().__init__()
        self.stve = stve

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return self.stve.encode_tiles(tiles)  # (n, D, g, g)


def _sinusoid_rows(idx: torch.Tensor, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's sinusoid table rows for positions idx (T,) -> (T, channels) (same formula as
    ``streaming_encoder.sinusoids``)."""
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    scaled = idx.float()[:, None] * inv[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


class SpeechChunkGraph(nn.Module):
    """One chunk of ``EncoderStream``: stem with conv context, positions from ``offset``,
    every layer attending to its cached left context and the whole chunk."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.left = int(encoder.cfg.left_context_frames)
        self.ctc_layer = int(encoder.cfg.ctc_layer)

    def forward(self, mel, ctx1, ctx2, offset, past_key, past_value):
        enc = self.encoder
        x, ctx1, ctx2 = enc.stem(mel, ctx1, ctx2)  # (1, c, D)
        c = x.shape[1]
        idx = offset + torch.arange(c)  # (c,) absolute encoder frame index
        table = enc.embed_positions  # (n_tab, D)
        n_tab = table.shape[0]
        from_table = table[idx.clamp(max=n_tab - 1)]
        pos = torch.where((idx < n_tab)[:, None], from_table, _sinusoid_rows(idx, table.shape[1]))
        x = x + pos
        ctc_hidden = x
        keys, values = [], []
        for i, layer in enumerate(enc.layers):
            at = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            q, k, v = at._split(at.q_proj(h)), at._split(at.k_proj(h)), at._split(at.v_proj(h))  # (1, H, c, hd)
            k = torch.cat([past_key[i], k], dim=2)  # (1, H, P + c, hd)
            v = torch.cat([past_value[i], v], dim=2)
            y = F.scaled_dot_product_attention(q, k, v)  # the chunk sees its cache and itself
            x = x + at.out_proj(y.transpose(1, 2).reshape(1, c, -1))
            x = x + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))
            keys.append(k[:, :, -self.left:] if self.left else k[:, :, :0])
            values.append(v[:, :, -self.left:] if self.left else v[:, :, :0])
            if i + 1 == self.ctc_layer:
                ctc_hidden = x
        x = enc.layer_norm(x)
        if self.ctc_layer == 0:
            ctc_hidden = x
        return x, ctc_hidden, ctx1, ctx2, torch.stack(keys), torch.stack(values)


class DecoderStepGraph(nn.Module):
    """Prefill / decode step of ``FusionDecoder`` with explicit KV tensors (see module docstring)."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder
        self.route_embed = model.route_embed
        cfg = self.decoder.cfg
        self.cfg = cfg
        L, R = cfg.num_layers, len(ROUTES)
        use_x = torch.zeros(L, R)
        use_b = torch.zeros(L, R)
        for i, layer in enumerate(self.decoder.layers):
            for r, name in enumerate(ROUTES):
                if name in VISION_ROUTES:
                    if r in layer.xattn_routes:
                        use_x[i, r] = 1.0
                    else:
                        use_b[i, r] = 1.0
        self.register_buffer("use_x", use_x, persistent=False)  # (L, R) 1 = cross-attention here
        self.register_buffer("use_b", use_b, persistent=False)  # (L, R) 1 = bilateral gate here
        # depth-cascaded experts: 1 = route r runs layer i (its update is kept, its K/V real);
        # a skipped layer leaves x unchanged and writes zero K/V, like FusionDecoder
        run = torch.tensor([[1.0 if i < cfg.exit_layer(r) else 0.0 for r in range(R)] for i in range(L)])
        self.register_buffer("run_layer", run, persistent=False)  # (L, R)
        self.exits_all_full = all(e == L for e in cfg.exits)

    def _experts(self, layer, h, route):
        e = layer.experts
        gate, up, down = e.gate[route], e.up[route], e.down[route]  # (1, d, r) ...
        return (F.silu(h @ gate) * (h @ up)) @ down

    def forward(self, input_ids, inputs_embeds, route, vision_tokens, vision_mask, vision_pooled,
                past_key, past_value):
        dec, cfg = self.decoder, self.cfg
        B, T = input_ids.shape
        P = past_key.shape[3]
        route1 = route.reshape(1)
        ids = input_ids.clamp(min=0)
        if dec.lm_head is None:
            # tied: read the embeddings from the same (d, V) matrix as the LM head, so the file
            # holds the table once (exporters fold W.t() into a second copy otherwise)
            w_t = dec.embed_tokens.weight.t()  # (d, V)
            words = w_t.index_select(1, ids.reshape(-1)).t().reshape(B, T, -1)  # (B, T, d)
        else:
            w_t = None
            words = dec.embed_tokens(ids)
        words = words * (input_ids >= 0).unsqueeze(-1).to(inputs_embeds.dtype)
        x = words + inputs_embeds + self.route_embed(route1)[:, None, :]  # (1, T, d)
        positions = P + torch.arange(T)
        cos, sin = rope_cos_sin(positions, cfg.head_dim, cfg.rope_theta)  # (T, hd)
        # query t (absolute P + t) sees keys j <= P + t
        mask = torch.arange(P + T)[None, :] <= positions[:, None]  # (T, P + T)
        rep = cfg.num_heads // cfg.num_kv_heads
        vis_mask = vision_mask[:, None, None, :]  # (1, 1, 1, N)
        keys, values = [], []
        for i, layer in enumerate(dec.layers):
            x_in = x
            keep = None if self.exits_all_full else self.run_layer[i][route1].view(1, 1, 1)
            at = layer.self_attn
            h = layer.input_layernorm(x)
            q = at.q_proj(h).view(B, T, at.num_heads, at.head_dim).transpose(1, 2)  # (B, H, T, hd)
            k = at.k_proj(h).view(B, T, at.num_kv_heads, at.head_dim).transpose(1, 2)  # (B, kvH, T, hd)
            v = at.v_proj(h).view(B, T, at.num_kv_heads, at.head_dim).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            if keep is not None:
                k, v = k * keep.view(1, 1, 1, 1), v * keep.view(1, 1, 1, 1)
            k = torch.cat([past_key[i], k], dim=2)  # (B, kvH, P + T, hd)
            v = torch.cat([past_value[i], v], dim=2)
            keys.append(k)
            values.append(v)
            kr = k.repeat_interleave(rep, dim=1) if rep > 1 else k  # (B, H, P + T, hd)
            vr = v.repeat_interleave(rep, dim=1) if rep > 1 else v
            y = F.scaled_dot_product_attention(q, kr, vr, attn_mask=mask)
            x = x + at.o_proj(y.transpose(1, 2).reshape(B, T, -1))
            if layer.cross_attn is not None:
                xa = layer.cross_attn
                n = vision_tokens.shape[1]
                xk = xa.k_proj(vision_tokens).view(B, n, xa.num_kv_heads, xa.head_dim).transpose(1, 2)
                xv = xa.v_proj(vision_tokens).view(B, n, xa.num_kv_heads, xa.head_dim).transpose(1, 2)
                xq = xa.q_proj(xa.norm(x)).view(B, T, xa.num_heads, xa.head_dim).transpose(1, 2)
                if rep > 1:
                    xk, xv = xk.repeat_interleave(rep, dim=1), xv.repeat_interleave(rep, dim=1)
                ya = F.scaled_dot_product_attention(xq, xk, xv, attn_mask=vis_mask)
                ya = torch.tanh(xa.gate) * xa.o_proj(ya.transpose(1, 2).reshape(B, T, -1))
                x = x + ya * self.use_x[i][route1].view(1, 1, 1)
            if layer.bilateral is not None:
                x = x + layer.bilateral(x, vision_pooled) * self.use_b[i][route1].view(1, 1, 1)
            h = layer.post_attention_layernorm(x)
            ff = self._experts(layer, h, route1)
            if layer.mlp is not None:
                ff = layer.mlp(h) + ff
            x = x + ff
            if keep is not None:
                x = x_in + keep * (x - x_in)
        if self.exits_all_full:
            h_last = dec.norm(x[:, -1])  # (1, d)
        else:  # the route's own final norm at its exit
            x_last = x[:, -1]
            w = torch.stack([dec.exit_norm(r).weight for r in range(len(ROUTES))])[route1]  # (1, d)
            h_last = w * (x_last * torch.rsqrt(x_last.pow(2).mean(-1, keepdim=True) + dec.norm.eps))
        logits = h_last @ w_t if w_t is not None else dec.logits(h_last)  # (1, V)
        return logits, h_last, torch.stack(keys), torch.stack(values)


# --- example inputs -----------------------------------------------------------------------------
def vision_example(vcfg, n_tiles: int = 2) -> tuple[torch.Tensor]:
    """Example tiles (n, 3, t, t) on the 0..255 scale for a VisionConfig."""
    t = vcfg.tile_size
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n_tiles, 3, t, t, generator=g) * 255.0,)


def speech_example(scfg, past: int = 3, mel_frames: int | None = None) -> tuple:
    g = torch.Generator().manual_seed(0)
    T = mel_frames or 2 * scfg.chunk_frames
    hd = scfg.d_model // scfg.n_heads
    return (torch.randn(1, T, scfg.n_mels, generator=g), torch.randn(1, scfg.n_mels, 2, generator=g),
            torch.randn(1, scfg.d_model, 2, generator=g), torch.tensor(past, dtype=torch.long),
            torch.randn(scfg.n_layers, 1, scfg.n_heads, past, hd, generator=g),
            torch.randn(scfg.n_layers, 1, scfg.n_heads, past, hd, generator=g))


def decoder_example(fcfg, past: int = 3, tokens: int = 2, n_vision: int = 3, route: int = _TRIMODAL) -> tuple:
    g = torch.Generator().manual_seed(0)
    d = fcfg.hidden_size
    kv = (fcfg.num_layers, 1, fcfg.num_kv_heads, past, fcfg.head_dim)
    return (torch.randint(0, fcfg.vocab_size, (1, tokens), generator=g), torch.zeros(1, tokens, d),
            torch.tensor(route, dtype=torch.long), torch.randn(1, n_vision, d, generator=g),
            torch.ones(1, n_vision, dtype=torch.bool), torch.randn(1, d, generator=g),
            torch.randn(*kv, generator=g) * 0.1, torch.randn(*kv, generator=g) * 0.1)


# --- export -------------------------------------------------------------------------------------
EXPORTERS = ("torchscript", "dynamo")


def _export(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_axes: dict,
            dynamic_shapes, exporter: str = "torchscript") -> Path:
    """Export ``module`` to ``path`` with weights in ``path.onnx.data``.

    exporter="torchscript" (default): the tracing exporter, seconds per graph; works because the
    graphs above avoid what it cannot trace (SDPA's enable_gqa: K/V heads are repeated instead).
    exporter="dynamo": ``torch.export`` based, what HF-style Qwen2 modules need; ~30-50 s per
    graph even for the tiny preset on 2 cores. Both give the same graph semantics (tests run the
    torchscript path; benchmarks state which one they used)."""
    import onnx
    if exporter not in EXPORTERS:
        raise InputError(f"unknown exporter {exporter!r}; expected one of {EXPORTERS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = path.name + ".data"
    for stale in (path, path.with_name(data_name)):
        stale.unlink(missing_ok=True)
    module.eval()
    with torch.no_grad():
        if exporter == "dynamo":
            prog = torch.onnx.export(module, args, dynamo=True, input_names=list(input_names),
                                     output_names=list(output_names), dynamic_shapes=dynamic_shapes,
                                     opset_version=OPSET, external_data=True, verbose=False,
                                     optimize=True, report=False)
            prog.save(str(path), external_data=True)
            return path
        import tempfile
        import warnings
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
            raw = Path(tmp) / path.name  # >2 GB models come out as one file per tensor here
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, args, str(raw), dynamo=False, input_names=list(input_names),
                                  output_names=list(output_names), dynamic_axes=dynamic_axes,
                                  opset_version=17, do_constant_folding=True)
            proto = onnx.load(str(raw), load_external_data=True)
            constants_to_initializers(proto)
            onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=1024)
    return path


def constants_to_initializers(proto, min_elements: int = 1024) -> int:
    """Move large Constant nodes (the tracer emits some folded weights, e.g. the transposed tied
    embedding, that way) into graph initializers, where the quantizer and the external-data
    writer see them. Returns how many were moved."""
    import numpy as np
    from onnx import numpy_helper
    g = proto.graph
    keep, moved = [], 0
    for node in g.node:
        value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None) \
            if node.op_type == "Constant" else None
        if value is not None and int(np.prod(value.dims)) >= min_elements:
            g.initializer.append(numpy_helper.from_array(numpy_helper.to_array(value), node.output[0]))
            moved += 1
            continue
        keep.append(node)
    if moved:
        del g.node[:]
        g.node.extend(keep)
    return moved


def export_vision(stve, path, exporter: str = "torchscript") -> Path:
    """Export the STVE backbone (dynamic number of tiles)."""
    from torch.export import Dim
    n = Dim("tiles", min=1, max=4096)
    return _export(VisionTileGraph(stve), vision_example(stve.config), path, ["tiles"], ["features"],
                   {"tiles": {0: "tiles"}, "features": {0: "tiles"}}, ({0: n},), exporter)


def export_speech_encoder(encoder, path, exporter: str = "torchscript") -> Path:
    """Export one streaming chunk of the speech encoder (dynamic chunk length and cache length)."""
    from torch.export import Dim
    cfg = encoder.cfg
    half = Dim("half_frames", min=1, max=4096)
    past = Dim("past", min=0, max=max(1, cfg.left_context_frames))
    dyn = ({1: 2 * half}, None, None, None, {3: past}, {3: past})
    axes = {"mel": {1: "mel_frames"}, "past_key": {3: "past"}, "past_value": {3: "past"},
            "hidden": {1: "frames"}, "ctc_hidden": {1: "frames"}, "present_key": {3: "present"},
            "present_value": {3: "present"}}
    return _export(SpeechChunkGraph(encoder), speech_example(cfg), path,
                   ["mel", "ctx1", "ctx2", "offset", "past_key", "past_value"],
                   ["hidden", "ctc_hidden", "ctx1_out", "ctx2_out", "present_key", "present_value"], axes, dyn,
                   exporter)


def export_decoder_step(model, path, exporter: str = "torchscript") -> Path:
    """Export the decoder step (dynamic new tokens T, past length P, vision tokens N)."""
    from torch.export import Dim
    f = model.decoder.cfg
    T = Dim("tokens", min=1, max=f.max_position)
    P = Dim("past", min=0, max=f.max_position)
    N = Dim("vision_tokens", min=1, max=4096)
    dyn = ({1: T}, {1: T}, None, {1: N}, {1: N}, None, {3: P}, {3: P})
    axes = {"input_ids": {1: "tokens"}, "inputs_embeds": {1: "tokens"}, "vision_tokens": {1: "vision_tokens"},
            "vision_mask": {1: "vision_tokens"}, "past_key": {3: "past"}, "past_value": {3: "past"},
            "present_key": {3: "present"}, "present_value": {3: "present"}}
    return _export(DecoderStepGraph(model), decoder_example(f), path,
                   ["input_ids", "inputs_embeds", "route", "vision_tokens", "vision_mask", "vision_pooled",
                    "past_key", "past_value"],
                   ["logits", "hidden", "present_key", "present_value"], axes, dyn, exporter)


def export_model(model, out_dir, speech_model=None, parts=("vision", "speech", "decoder"),
                 progress: bool = True, exporter: str = "torchscript") -> ExportManifest:
    """Export the parts of a TriStreamModel (and its SpeechModel, if given) to ``out_dir``
    with a ``runtime.json`` manifest. fp32; see ``quantize.quantize_export`` for int8."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unknown = set(parts) - {"vision", "speech", "decoder"}
    if unknown:
        raise InputError(f"unknown export parts {sorted(unknown)}; expected vision, speech, decoder")
    manifest = ExportManifest(config=model.config.to_dict(), exporter=exporter,
                              created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    jobs = []
    if "vision" in parts:
        jobs.append(("vision", VISION_FILE, lambda p: export_vision(model.vision, p, exporter)))
    if "speech" in parts and speech_model is not None:
        manifest.speech_config = speech_model.cfg.to_dict()
        jobs.append(("speech", SPEECH_FILE, lambda p: export_speech_encoder(speech_model.encoder, p, exporter)))
    if "decoder" in parts:
        jobs.append(("decoder", DECODER_FILE, lambda p: export_decoder_step(model, p, exporter)))
    for part, name, fn in jobs:
        t0 = time.perf_counter()
        fn(out / name)
        manifest.files[part] = name
        manifest.bytes[name] = model_bytes(out / name)
        if progress:
            print(f"exported {part}: {out / name} ({manifest.bytes[name] / 1e6:.1f} MB, "
                  f"{time.perf_counter() - t0:.1f} s)", flush=True)
    manifest.save(out)
    return manifest


__all__ = ["VisionTileGraph", "SpeechChunkGraph", "DecoderStepGraph", "export_vision", "export_speech_encoder",
           "export_decoder_step", "export_model", "ExportManifest", "model_bytes", "VISION_FILE", "SPEECH_FILE",
           "DECODER_FILE", "MANIFEST_FILE"]
