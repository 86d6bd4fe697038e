"""Chunked streaming speech encoder (Whisper-shaped, no 30 s padding).

    mel (T, n_mels) 100 frames/s
      -> conv1 (k=3, stride 1) + GELU -> conv2 (k=3, stride 2) + GELU   # causal: no look-ahead
      -> + sinusoidal positions                                          # (T/2, D) 50 frames/s
      -> n_layers x [x + Attn(LN(x)); x + MLP(LN(x))]                    # pre-LN, as Whisper
      -> LayerNorm                                                       # (T/2, D)

Attention is chunked: frames are grouped in chunks of ``chunk_frames``; a frame attends to
every frame of its own chunk and to the ``left_context_frames`` frames before the chunk, never
to later chunks. So audio can be encoded chunk by chunk while the user speaks, with a per-layer
KV cache holding at most ``left_context_frames`` frames: cost grows with the audio heard, memory
stays bounded for a long monologue, and there is no 30 s window.

``SpeechEncoder.forward`` runs a whole batch in parallel with the equivalent block mask
(training); ``SpeechEncoder.stream()`` returns an ``EncoderStream`` that takes mel frames in any
pieces and gives the same frames (tests check equality). Module and parameter names mirror
Hugging Face's ``WhisperEncoder`` so ``pretrained_whisper`` maps weights one to one. Note the
stem is causal (left padding 2) where Whisper's is centred: outputs are the same convolution
shifted by one mel frame (10 ms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tristream_ros.errors import InputError
from tristream_ros.model.speech.config import SpeechConfig

SILENCE_MEL = -1.0  # value of a silent log-mel frame ((LOG_FLOOR + 4) / 4), used to pad odd lengths


def sinusoids(length: int, channels: int, offset: int = 0, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's positional table rows [offset, offset + length): (length, channels)."""
    log_timescale_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(offset, offset + length, dtype=torch.float32)
    scaled = t[:, None] * inv_timescales[None, :]  # (length, channels/2)
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


def chunk_attention_mask(n_frames: int, chunk: int, left: int, device=None) -> torch.Tensor:
    """Boolean (T, T) mask, True where query i may attend key j: same chunk, or the ``left``
    frames before i's chunk."""
    idx = torch.arange(n_frames, device=device)
    start = (idx // chunk) * chunk  # first frame of each query's chunk
    q_start = start[:, None]
    k = idx[None, :]
    same = (k // chunk) == (idx[:, None] // chunk)
    past = (k < q_start) & (k >= q_start - left)
    return same | past


class SpeechAttention(nn.Module):
    """Multi-head self-attention with Whisper's projections (k_proj has no bias)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x (B, T, D); mask (T, T_k) bool or None; cache (k, v) each (B, H, L, hd) of earlier frames.
        Returns (out (B, T, D), (k, v) of this call's frames)."""
        q, k, v = self._split(self.q_proj(x)), self._split(self.k_proj(x)), self._split(self.v_proj(x))
        new_kv = (k, v)
        if cache is not None and cache[0].shape[2]:
            k = torch.cat([cache[0], k], dim=2)  # (B, H, L + T, hd)
            v = torch.cat([cache[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, hd)
        b, h, t, hd = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, t, h * hd)), new_kv


class SpeechEncoderLayer(nn.Module):
    def __init__(self, cfg: SpeechConfig):
        super().__init__()
        self.self_attn = SpeechAttention(cfg.d_model, cfg.n_heads)
        self.self_attn_layer_norm = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.d_model)
        self.final_layer_norm = nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, cache=None):
        a, kv = self.self_attn(self.self_attn_layer_norm(x), mask, cache)
        x = x + self.dropout(a)
        x = x + self.dropout(self.fc2(F.gelu(self.fc1(self.final_layer_norm(x)))))
        return x, kv


@dataclass
class EncoderOutput:
    """hidden: (B, T', D) final normed output; ctc_hidden: (B, T', D) input of the CTC head;
    lengths: (B,) valid encoder frames per item."""

    hidden: torch.Tensor
    ctc_hidden: torch.Tensor
    lengths: torch.Tensor


def encoder_frames(n_mel_frames: int) -> int:
    """Encoder frames for a number of mel frames (stride-2 stem, odd lengths padded by one)."""
    return (n_mel_frames + 1) // 2


class SpeechEncoder(nn.Module):
    """Streaming Whisper-shaped encoder; see the module docstring."""

    def __init__(self, cfg: SpeechConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.conv1 = nn.Conv1d(cfg.n_mels, d, kernel_size=3)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2)
        self.register_buffer("embed_positions", sinusoids(cfg.max_source_positions, d), persistent=True)
        self.layers = nn.ModuleList(SpeechEncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.layer_norm = nn.LayerNorm(d)

    # -- pieces shared by the batch and streaming paths -------------------------------------
    def positions(self, offset: int, length: int) -> torch.Tensor:
        """Positional rows [offset, offset + length): (length, D); the table, then the formula."""
        n_tab = self.embed_positions.shape[0]
        if offset + length <= n_tab:
            return self.embed_positions[offset : offset + length]
        parts = []
        if offset < n_tab:
            parts.append(self.embed_positions[offset:])
        start = max(offset, n_tab)
        parts.append(sinusoids(offset + length - start, self.cfg.d_model, offset=start).to(self.embed_positions))
        return torch.cat(parts, dim=0)

    def stem(self, mel: torch.Tensor, ctx1: torch.Tensor, ctx2: torch.Tensor):
        """mel (B, T, n_mels) with T even; ctx1 (B, n_mels, 2), ctx2 (B, D, 2): the two frames before.
        Returns (x (B, T/2, D), new ctx1, new ctx2)."""
        m = torch.cat([ctx1, mel.transpose(1, 2)], dim=2)  # (B, n_mels, T + 2)
        y = F.gelu(self.conv1(m))  # (B, D, T)
        y2 = torch.cat([ctx2, y], dim=2)  # (B, D, T + 2)
        x = F.gelu(self.conv2(y2))  # (B, D, T / 2)
        return x.transpose(1, 2), m[:, :, -2:], y2[:, :, -2:]

    def _check_mel(self, mel: torch.Tensor) -> None:
        if mel.dim() != 3 or mel.shape[-1] != self.cfg.n_mels:
            raise InputError(f"SpeechEncoder expects mel of shape (B, T, n_mels={self.cfg.n_mels}), got {tuple(mel.shape)}")
        if not torch.isfinite(mel).all():
            raise InputError("SpeechEncoder: mel features contain NaN/Inf")

    # -- batch (training / offline) -----------------------------------------------------------
    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> EncoderOutput:
        """mel (B, T, n_mels) -> EncoderOutput; identical to streaming the same frames."""
        mel = torch.as_tensor(mel)
        self._check_mel(mel)
        b, t, _ = mel.shape
        if t == 0:
            raise InputError("SpeechEncoder: zero-length mel input (0 frames)")
        if t % 2:
            mel = torch.cat([mel, mel.new_full((b, 1, mel.shape[2]), SILENCE_MEL)], dim=1)
        z1 = mel.new_zeros(b, self.cfg.n_mels, 2)
        z2 = mel.new_zeros(b, self.cfg.d_model, 2)
        x, _, _ = self.stem(mel, z1, z2)  # (B, T', D)
        tp = x.shape[1]
        x = x + self.positions(0, tp)
        mask = chunk_attention_mask(tp, self.cfg.chunk_frames, self.cfg.left_context_frames, x.device)
        ctc_hidden = None
        for i, layer in enumerate(self.layers):
            x, _ = layer(x, mask)
            if i + 1 == self.cfg.ctc_layer:
                ctc_hidden = x
        x = self.layer_norm(x)
        if ctc_hidden is None:
            ctc_hidden = x
        if lengths is None:
            out_len = torch.full((b,), tp, dtype=torch.long)
        else:
            out_len = (torch.as_tensor(lengths, dtype=torch.long) + 1) // 2
        return EncoderOutput(x, ctc_hidden, out_len)

    def stream(self) -> "EncoderStream":
        return EncoderStream(self)


def estimate_macs(cfg: SpeechConfig, seconds: float, *, window_s: float | None = None) -> float:
    """Multiply-accumulates to encode ``seconds`` of audio.

    With ``window_s`` (e.g. 30.0) the audio is padded to that window and attention is full, as
    Whisper does; otherwise the chunked attention with bounded left context is counted.
    """
    n_mel = int(round((window_s or seconds) * 100))
    t = encoder_frames(n_mel)
    d, f = cfg.d_model, cfg.ffn_dim
    stem = n_mel * cfg.n_mels * d * 3 + t * d * d * 3
    if window_s:
        keys = t
    else:
        c, left = cfg.chunk_frames, cfg.left_context_frames
        keys = min(t, c + left)  # per-query keys, an upper bound for the first chunks
    per_layer = t * (4 * d * d + 2 * d * f) + 2 * t * keys * d
    return float(stem + cfg.n_layers * per_layer)


class EncoderStream:
    """Incremental encoding: ``accept_mel`` frames in any pieces; encoded frames come out a chunk
    at a time (``chunk_frames`` encoder frames = ``2 * chunk_frames`` mel frames).
    ``finish()`` encodes the remainder. State per layer: at most ``left_context_frames`` keys/values.
    """

    def __init__(self, encoder: SpeechEncoder):
        self.encoder = encoder
        self.cfg = encoder.cfg
        p = next(encoder.parameters())
        self._dtype, self._device = p.dtype, p.device
        self.reset()

    def reset(self) -> None:
        cfg = self.cfg
        self._pending = torch.zeros(0, cfg.n_mels, dtype=self._dtype, device=self._device)
        self._ctx1 = torch.zeros(1, cfg.n_mels, 2, dtype=self._dtype, device=self._device)
        self._ctx2 = torch.zeros(1, cfg.d_model, 2, dtype=self._dtype, device=self._device)
        self._kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * cfg.n_layers
        self.frames_out = 0
        self.mel_frames_in = 0

    @property
    def cache_frames(self) -> int:
        """Frames currently held in each layer's KV cache (<= left_context_frames)."""
        kv = self._kv[0]
        return 0 if kv is None else int(kv[0].shape[2])

    @torch.no_grad()
    def accept_mel(self, mel) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (t, n_mels) -> (hidden (t', D), ctc_hidden (t', D)) for every chunk completed."""
        mel = torch.as_tensor(np.asarray(mel) if not torch.is_tensor(mel) else mel, dtype=self._dtype)
        if mel.dim() != 2 or mel.shape[1] != self.cfg.n_mels:
            raise InputError(f"EncoderStream expects mel of shape (t, {self.cfg.n_mels}), got {tuple(mel.shape)}")
        if not torch.isfinite(mel).all():
            raise InputError("EncoderStream: mel features contain NaN/Inf")
        self.mel_frames_in += mel.shape[0]
        self._pending = torch.cat([self._pending, mel.to(self._device)], dim=0)
        step = 2 * self.cfg.chunk_frames
        outs = []
        while self._pending.shape[0] >= step:
            outs.append(self._encode(self._pending[:step]))
            self._pending = self._pending[step:]
        return self._cat(outs)

    @torch.no_grad()
    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode what is pending (padded to an even number of mel frames); then reset."""
        outs = []
        if self._pending.shape[0]:
            mel = self._pending
            if mel.shape[0] % 2:
                mel = torch.cat([mel, mel.new_full((1, mel.shape[1]), SILENCE_MEL)], dim=0)
            outs.append(self._encode(mel))
        out = self._cat(outs)
        self.reset()
        return out

    def _cat(self, outs):
        d = self.cfg.d_model
        if not outs:
            empty = torch.zeros(0, d, dtype=self._dtype, device=self._device)
            return empty, empty.clone()
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def _encode(self, mel: torch.Tensor):
        enc, cfg = self.encoder, self.cfg
        x, self._ctx1, self._ctx2 = enc.stem(mel[None], self._ctx1, self._ctx2)  # (1, c, D)
        c = x.shape[1]
        x = x + enc.positions(self.frames_out, c)
        ctc_hidden = None
        for i, layer in enumerate(enc.layers):
            x, (k, v) = layer(x, None, self._kv[i])  # no mask: the whole chunk + its cache are visible
            prev = self._kv[i]
            if prev is not None:
                k = torch.cat([prev[0], k], dim=2)
                v = torch.cat([prev[1], v], dim=2)
            left = cfg.left_context_frames
            self._kv[i] = (k[:, :, -left:], v[:, :, -left:]) if left else (k[:, :, :0], v[:, :, :0])
            if i + 1 == cfg.ctc_layer:
                ctc_hidden = x
        x = enc.layer_norm(x)
        if ctc_hidden is None:
            ctc_hidden = x
        self.frames_out += c
        return x[0], ctc_hidden[0]
