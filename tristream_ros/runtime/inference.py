"""The edge runtime's ``Inference`` interface: the three graphs of ``export_onnx.py`` behind one
small API, with a PyTorch backend (the trained modules themselves) and an ONNX Runtime backend
(the exported, optionally int8, files). Inputs and outputs are numpy, so that a node using
``OnnxInference`` needs neither torch nor the model code.

    inf = OnnxInference("export/demo-int8")          # or TorchInference(model, speech_model)
    feats = inf.encode_tiles(tiles)                  # (n, 3, 64, 64) 0..255 -> (n, D, 2, 2)
    state = inf.speech_state()                       # conv context + bounded KV cache
    hidden, ctc_hidden, state = inf.speech_chunk(mel, state)   # mel (T, n_mels), T even
    cache = inf.decoder_cache()                      # empty KV cache
    out = inf.decoder_step(ids, route="speech", cache=cache)   # prefill (T tokens) or one step
    out.logits (V,), out.hidden (d,), out.cache (P + T keys per layer)

Vision for the decoder is a ``DecoderVision(tokens (N, d), mask (N,), pooled (d,))``: the
VisionContext already projected to the decoder width (``TriStreamModel.project_vision``).
Routes without vision ignore it; ``None`` means "no vision" (one masked-out dummy token).
"""
from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tristream_ros.errors import InputError, ModelFileError

ROUTE_NAMES = ("speech", "vision", "speech_vision", "trimodal")  # = model.config.ROUTES (checked in tests)


@dataclass
class DecoderCache:
    """Self-attention keys/values of every layer: key, value (L, 1, kvH, P, hd) float32."""

    key: np.ndarray
    value: np.ndarray

    @property
    def length(self) -> int:
        return int(self.key.shape[3])


@dataclass
class DecoderVision:
    """Projected vision context: tokens (N, d), mask (N,) bool, pooled (d,)."""

    tokens: np.ndarray
    mask: np.ndarray
    pooled: np.ndarray


@dataclass
class DecoderOutput:
    logits: np.ndarray  # (V,) at the last new position
    hidden: np.ndarray  # (d,) final-normed hidden state at the last new position
    cache: DecoderCache  # P + T positions


@dataclass
class SpeechState:
    """Streaming state of the speech encoder: conv context and bounded per-layer KV cache."""

    ctx1: np.ndarray  # (1, n_mels, 2)
    ctx2: np.ndarray  # (1, D, 2)
    key: np.ndarray  # (L, 1, H, P, hd), P <= left_context_frames
    value: np.ndarray
    frames_out: int = 0  # encoder frames emitted so far (position offset)


class Inference(abc.ABC):
    """Vision tile encoder, speech encoder chunk and decoder step, numpy in and out."""

    backend: str = "abstract"

    def __init__(self, config: dict, speech_config: dict | None):
        self.config = config  # TriStreamConfig.to_dict()
        self.speech_config = speech_config  # SpeechConfig.to_dict() of the exported speech model
        f = config["fusion"]
        self.num_layers, self.num_kv_heads = int(f["num_layers"]), int(f["num_kv_heads"])
        self.head_dim = int(f["hidden_size"]) // int(f["num_heads"])
        self.hidden_size, self.vocab_size = int(f["hidden_size"]), int(f["vocab_size"])

    # -- vision ----------------------------------------------------------------------------------
    def encode_tiles(self, tiles: np.ndarray) -> np.ndarray:
        """tiles (n, 3, t, t) float32 RGB on the 0..255 scale -> features (n, D, t/32, t/32)."""
        v = self.config["vision"]
        t = int(v["tile_size"])
        tiles = np.asarray(tiles)
        if tiles.ndim != 4 or tiles.shape[1:] != (3, t, t) or tiles.shape[0] == 0:
            raise InputError(f"encode_tiles expects tiles of shape (n>=1, 3, {t}, {t}), got {tiles.shape}")
        tiles = _finite(tiles.astype(np.float32, copy=False), "encode_tiles: tiles")
        return self._encode_tiles(tiles)

    @abc.abstractmethod
    def _encode_tiles(self, tiles: np.ndarray) -> np.ndarray: ...

    # -- speech ----------------------------------------------------------------------------------
    def _speech_cfg(self) -> dict:
        if self.speech_config is None:
            raise ModelFileError(f"{self.backend} inference has no speech encoder (none was exported/given)")
        return self.speech_config

    def speech_state(self) -> SpeechState:
        s = self._speech_cfg()
        d, L, H = int(s["d_model"]), int(s["n_layers"]), int(s["n_heads"])
        kv = np.zeros((L, 1, H, 0, d // H), np.float32)
        return SpeechState(np.zeros((1, int(s["n_mels"]), 2), np.float32), np.zeros((1, d, 2), np.float32),
                           kv, kv.copy(), 0)

    def speech_chunk(self, mel: np.ndarray, state: SpeechState) -> tuple[np.ndarray, np.ndarray, SpeechState]:
        """mel (T, n_mels), T even (a chunk is 2 * chunk_frames mel frames; the last may be shorter)
        -> hidden (T/2, D), ctc_hidden (T/2, D), new state. Equals ``EncoderStream``."""
        s = self._speech_cfg()
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[1] != int(s["n_mels"]) or mel.shape[0] == 0 or mel.shape[0] % 2:
            raise InputError(f"speech_chunk expects mel (T, {s['n_mels']}) with T even and > 0, got {mel.shape}")
        _finite(mel, "speech_chunk: mel")
        h, c, state = self._speech_chunk(mel[None], state)
        return h[0], c[0], state

    @abc.abstractmethod
    def _speech_chunk(self, mel: np.ndarray, state: SpeechState): ...

    # -- decoder ---------------------------------------------------------------------------------
    def decoder_cache(self) -> DecoderCache:
        kv = np.zeros((self.num_layers, 1, self.num_kv_heads, 0, self.head_dim), np.float32)
        return DecoderCache(kv, kv.copy())

    def decoder_step(self, input_ids, route: str | int, cache: DecoderCache | None = None,
                     inputs_embeds: np.ndarray | None = None, vision: DecoderVision | None = None) -> DecoderOutput:
        """Run T new positions through the decoder after ``cache`` (None = empty).

        input_ids (T,) int (-1 where ``inputs_embeds`` alone gives the input, e.g. projected
        speech tokens); inputs_embeds (T, d) added to the word embeddings (default zeros);
        route name or index; vision: the projected context (needed on vision routes)."""
        ids = np.asarray(input_ids, dtype=np.int64).reshape(-1)
        T, d = ids.shape[0], self.hidden_size
        if T == 0:
            raise InputError("decoder_step: no input positions (input_ids is empty)")
        if ids.max() >= self.vocab_size or ids.min() < -1:
            raise InputError(f"decoder_step: input_ids must be in [-1, {self.vocab_size}), got "
                             f"min={ids.min()} max={ids.max()}")
        r = ROUTE_NAMES.index(route) if isinstance(route, str) and route in ROUTE_NAMES else route
        if not isinstance(r, (int, np.integer)) or not 0 <= int(r) < len(ROUTE_NAMES):
            raise InputError(f"decoder_step: unknown route {route!r}; expected one of {ROUTE_NAMES}")
        emb = np.zeros((T, d), np.float32) if inputs_embeds is None else np.asarray(inputs_embeds, np.float32)
        if emb.shape != (T, d):
            raise InputError(f"decoder_step: inputs_embeds must be ({T}, {d}), got {emb.shape}")
        _finite(emb, "decoder_step: inputs_embeds")
        cache = cache or self.decoder_cache()
        if vision is None:
            if ROUTE_NAMES[int(r)] != "speech":
                raise InputError(f"decoder_step: route {ROUTE_NAMES[int(r)]!r} needs vision (DecoderVision)")
            vision = DecoderVision(np.zeros((1, d), np.float32), np.ones(1, bool), np.zeros(d, np.float32))
        vt = np.asarray(vision.tokens, np.float32)
        if vt.ndim != 2 or vt.shape[1] != d or vt.shape[0] == 0:
            raise InputError(f"decoder_step: vision tokens must be (N>=1, {d}), got {vt.shape}")
        vm = np.asarray(vision.mask, bool).reshape(vt.shape[0])
        vp = np.asarray(vision.pooled, np.float32).reshape(d)
        logits, hidden, k, v = self._decoder_step(ids[None], emb[None], np.int64(r), vt[None], vm[None], vp[None],
                                                  cache)
        return DecoderOutput(logits[0], hidden[0], DecoderCache(k, v))

    @abc.abstractmethod
    def _decoder_step(self, ids, emb, route, vtok, vmask, vpool, cache: DecoderCache): ...


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(x).all():
        raise InputError(f"{what} contain NaN or Inf")
    return x


# --- PyTorch backend ------------------------------------------------------------------------------
class TorchInference(Inference):
    """The trained modules, run eagerly (the reference the ONNX backend is tested against)."""

    backend = "torch"

    def __init__(self, model, speech_model=None):
        super().__init__(model.config.to_dict(), speech_model.cfg.to_dict() if speech_model is not None else None)
        self.model = model.eval()
        self.speech_model = speech_model.eval() if speech_model is not None else None

    def _encode_tiles(self, tiles):
        import torch
        with torch.inference_mode():
            return self.model.vision.encode_tiles(torch.from_numpy(tiles)).contiguous().numpy()

    def _speech_chunk(self, mel, state: SpeechState):
        import torch
        enc = self.speech_model.encoder
        cfg = enc.cfg
        t = torch.from_numpy
        with torch.inference_mode():
            x, ctx1, ctx2 = enc.stem(t(mel), t(state.ctx1), t(state.ctx2))  # (1, c, D)
            c = x.shape[1]
            x = x + enc.positions(state.frames_out, c)
            ctc = None
            keys, values = [], []
            for i, layer in enumerate(enc.layers):
                past = (t(state.key[i]), t(state.value[i]))
                x, (k, v) = layer(x, None, past)  # the layer itself (EncoderStream's path)
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
                left = cfg.left_context_frames
                keys.append(k[:, :, -left:] if left else k[:, :, :0])
                values.append(v[:, :, -left:] if left else v[:, :, :0])
                if i + 1 == cfg.ctc_layer:
                    ctc = x
            x = enc.layer_norm(x)
            ctc = x if ctc is None else ctc
            new = SpeechState(ctx1.contiguous().numpy(), ctx2.contiguous().numpy(),
                              torch.stack(keys).contiguous().numpy(), torch.stack(values).contiguous().numpy(),
                              state.frames_out + c)
            return x.numpy(), ctc.numpy(), new

    def _decoder_step(self, ids, emb, route, vtok, vmask, vpool, cache):
        import torch
        from tristream_ros.model.fusion.decoder import KVCache, LayerCache, VisionContext
        m = self.model
        t = torch.from_numpy
        with torch.inference_mode():
            ids_t = t(ids)
            x = m.decoder.embed_tokens(ids_t.clamp(min=0)) * (ids_t >= 0).unsqueeze(-1).float()
            x = x + t(emb) + m.route_embed.weight[int(route)]
            kv = KVCache([LayerCache(k=t(cache.key[i]), v=t(cache.value[i])) if cache.length else LayerCache()
                          for i in range(self.num_layers)])
            vis = VisionContext(tokens=t(vtok), mask=t(vmask), pooled=t(vpool))
            h = m.decoder(x, torch.tensor([int(route)]), vision=vis, cache=kv)  # (1, T, d) normed
            h_last = h[:, -1]
            logits = m.decoder.logits(h_last)
            k = torch.stack([layer.k for layer in kv.layers]).contiguous().numpy()
            v = torch.stack([layer.v for layer in kv.layers]).contiguous().numpy()
            return logits.numpy(), h_last.numpy(), k, v


# --- ONNX Runtime backend -------------------------------------------------------------------------
def open_session(path, threads: int | None = None):
    """An onnxruntime.InferenceSession on CPU; a missing, truncated or corrupt file (or its
    .onnx.data) raises ModelFileError naming the path."""
    import onnxruntime as ort
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX file not found: {path}")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / RuntimeException types
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        data = path.with_name(path.name + ".data")
        hint = f" (weights file {data} {'exists' if data.exists() else 'is missing'})" if "data" in msg.lower() \
            or "external" in msg.lower() else ""
        raise ModelFileError(f"cannot load ONNX model {path}: {msg}{hint}") from None


class OnnxInference(Inference):
    """The exported graphs in ONNX Runtime. ``folder`` holds runtime.json (written by
    ``tristream export``) and the .onnx files it lists; sessions open lazily per part."""

    backend = "onnxruntime"

    def __init__(self, folder, threads: int | None = None, parts: tuple[str, ...] | None = None):
        from tristream_ros.runtime.manifest import ExportManifest
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ModelFileError(f"runtime folder not found: {self.folder}")
        self.manifest = ExportManifest.load(self.folder)
        super().__init__(self.manifest.config, self.manifest.speech_config)
        self.threads = threads or int(os.environ.get("TRISTREAM_ORT_THREADS", "0")) or None
        self._sessions: dict = {}
        for part in parts or ():
            self.session(part)

    def session(self, part: str):
        if part not in self._sessions:
            name = self.manifest.files.get(part)
            if name is None:
                raise ModelFileError(f"{self.folder / 'runtime.json'} lists no {part!r} graph "
                                     f"(exported: {sorted(self.manifest.files)})")
            self._sessions[part] = open_session(self.folder / name, self.threads)
        return self._sessions[part]

    def _encode_tiles(self, tiles):
        return self.session("vision").run(None, {"tiles": tiles})[0]

    def _speech_chunk(self, mel, state):
        h, c, ctx1, ctx2, k, v = self.session("speech").run(None, {
            "mel": mel, "ctx1": state.ctx1, "ctx2": state.ctx2, "offset": np.array(state.frames_out, np.int64),
            "past_key": state.key, "past_value": state.value})
        return h, c, SpeechState(ctx1, ctx2, k, v, state.frames_out + h.shape[1])

    def _decoder_step(self, ids, emb, route, vtok, vmask, vpool, cache):
        return tuple(self.session("decoder").run(None, {
            "input_ids": ids, "inputs_embeds": emb, "route": np.array(route, np.int64), "vision_tokens": vtok,
            "vision_mask": vmask, "vision_pooled": vpool, "past_key": cache.key, "past_value": cache.value}))


__all__ = ["Inference", "TorchInference", "OnnxInference", "DecoderCache", "DecoderVision", "DecoderOutput",
           "SpeechState", "open_session", "ROUTE_NAMES"]
