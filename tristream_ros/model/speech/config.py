"""Sizes and streaming settings of the speech path (encoder, adapter, CTC head).

Presets (``SpeechConfig.preset(name, **overrides)``):

- ``tiny``: unit tests, a few thousand parameters, runs in milliseconds.
- ``demo``: the size we train and ship; chosen so that end-of-speech -> speech tokens costs
  one chunk of encoder work (the rest ran while the user spoke) on 2 CPU cores.
- ``omni-0.5b``: shaped like LLaMA-Omni2-0.5B's speech path (Whisper-large-v3 encoder width
  1280, 32 layers, 20 heads, 128 mels; k=5 adapter into Qwen2.5-0.5B's 896 dims). Random
  weights, for cost measurement; real weights load with ``pretrained_whisper``.

Time units: the log-mel front end gives 100 frames/s (10 ms); the conv stem halves that, so
one encoder frame is 20 ms (50 frames/s, as Whisper); the adapter's k=5 gives 10 tokens/s.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from tristream_ros.errors import InputError
from tristream_ros.model.text_tokenizer import CHAR_SYMBOLS

MEL_FRAMES_PER_SECOND = 100  # log-mel hop of 10 ms
ENCODER_FRAMES_PER_SECOND = 50  # after the stride-2 conv stem (20 ms per frame)


@dataclass(frozen=True)
class SpeechConfig:
    """Speech path sizes.

    n_mels: log-mel bands fed to the conv stem (80; 128 for Whisper-large-v3).
    d_model: encoder width. n_layers / n_heads / ffn_dim: transformer layers (pre-LN, GELU MLP).
    chunk_frames: encoder frames processed together (20 ms each); the encoder looks at nothing
        later than the end of the current chunk, so this is the algorithmic latency.
    left_context_frames: encoder frames of earlier audio each chunk may attend to (bounded KV
        cache per layer: memory and per-chunk cost stay flat for a long monologue).
    max_source_positions: positional table length kept when loading Whisper (1500 = 30 s);
        positions beyond it use the same sinusoid formula (Whisper's table is sinusoidal).
    ctc_layer: the CTC head reads the output of this many layers (Stream-Omni puts CTC on the
        bottom layers); 0 or n_layers means the final (normed) output.
    adapter_k: frames concatenated by the adapter (LLaMA-Omni2: k=5).
    adapter_hidden / llm_dim: adapter MLP width and the LLM width it projects into.
    vocab_size: CTC symbols (``<blank>``, space, a-z, apostrophe).
    dropout: used in training only.
    """

    n_mels: int = 80
    d_model: int = 192
    n_layers: int = 6
    n_heads: int = 4
    ffn_dim: int = 768
    chunk_frames: int = 16
    left_context_frames: int = 128
    max_source_positions: int = 1500
    ctc_layer: int = 0
    adapter_k: int = 5
    adapter_hidden: int = 512
    llm_dim: int = 256
    vocab_size: int = len(CHAR_SYMBOLS)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        positive = ("n_mels", "d_model", "n_layers", "n_heads", "ffn_dim", "chunk_frames", "max_source_positions",
                    "adapter_k", "adapter_hidden", "llm_dim", "vocab_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"SpeechConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.n_heads:
            raise InputError(f"SpeechConfig.d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise InputError(f"SpeechConfig head size d_model/n_heads={self.d_model // self.n_heads} must be even")
        if self.left_context_frames < 0:
            raise InputError(f"SpeechConfig.left_context_frames must be >= 0, got {self.left_context_frames}")
        if not 0 <= self.ctc_layer <= self.n_layers:
            raise InputError(f"SpeechConfig.ctc_layer must be in [0, n_layers={self.n_layers}], got {self.ctc_layer}")
        if self.vocab_size != len(CHAR_SYMBOLS):
            raise InputError(f"SpeechConfig.vocab_size={self.vocab_size} but the CTC vocabulary has {len(CHAR_SYMBOLS)} symbols")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"SpeechConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def chunk_ms(self) -> float:
        return 1000.0 * self.chunk_frames / ENCODER_FRAMES_PER_SECOND

    @property
    def left_context_ms(self) -> float:
        return 1000.0 * self.left_context_frames / ENCODER_FRAMES_PER_SECOND

    @property
    def ctc_depth(self) -> int:
        """Number of layers below the CTC head."""
        return self.n_layers if self.ctc_layer == 0 else self.ctc_layer

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SpeechConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"SpeechConfig: unknown keys {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def preset(cls, name: str, **overrides) -> "SpeechConfig":
        if name not in PRESETS:
            raise InputError(f"unknown speech preset {name!r}; expected one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, SpeechConfig] = {
    "tiny": SpeechConfig(n_mels=80, d_model=32, n_layers=2, n_heads=2, ffn_dim=64, chunk_frames=8,
                         left_context_frames=16, adapter_hidden=64, llm_dim=32),
    "demo": SpeechConfig(),
    "omni-0.5b": SpeechConfig(n_mels=128, d_model=1280, n_layers=32, n_heads=20, ffn_dim=5120, chunk_frames=16,
                              left_context_frames=256, adapter_hidden=2048, llm_dim=896),
}
