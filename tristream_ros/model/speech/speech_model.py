"""The speech path as one module: streaming encoder + CTC head + k-frame adapter.

    pcm 16 kHz -> log-mel (signal/features.py) -> SpeechEncoder -> hidden (T', D), 50 frames/s
                                                   |-> CtcHead(ctc_hidden) -> char log-probs (T', V)
                                                   `-> SpeechAdapter(hidden) -> tokens (ceil(T'/k), llm_dim)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tristream_ros.model.speech.adapter import SpeechAdapter
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.ctc import CtcHead
from tristream_ros.model.speech.streaming_encoder import SpeechEncoder


# the front end's recogniser beside a checkpoint (optional): a SpeechModel fine-tuned for
# recognition only (training/recognizer.py); speech.safetensors keeps encoding the speech tokens
RECOGNIZER_FILE = "recognizer.safetensors"


@dataclass
class SpeechOutput:
    tokens: torch.Tensor  # (B, T'', llm_dim) speech tokens for the LLM
    token_lengths: torch.Tensor  # (B,)
    ctc_log_probs: torch.Tensor  # (B, T', V)
    frame_lengths: torch.Tensor  # (B,) encoder frames


class SpeechModel(nn.Module):
    def __init__(self, cfg: SpeechConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = SpeechEncoder(cfg)
        self.ctc_head = CtcHead(cfg.d_model, cfg.vocab_size)
        self.adapter = SpeechAdapter(cfg)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> SpeechOutput:
        """mel (B, T, n_mels) -> SpeechOutput (batch/training path; equals the streaming path)."""
        enc = self.encoder(mel, lengths)
        return SpeechOutput(self.adapter(enc.hidden), self.adapter.output_lengths(enc.lengths),
                            self.ctc_head(enc.ctc_hidden), enc.lengths)
