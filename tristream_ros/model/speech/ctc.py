"""CTC head over characters and greedy streaming decoding with partial-transcript stability.

Vocabulary: ``CharVocab`` (``<blank>``=0, space, a-z, apostrophe). The head is LayerNorm +
Linear on an encoder layer's output (Stream-Omni aligns speech to text with CTC on the bottom
layers). Training loss: ``ctc_loss``.

Streaming: the encoder never looks past the current chunk, so once a chunk is decoded its
characters are final. ``GreedyCtcDecoder`` carries the previous frame's symbol across chunks
(so a character spanning a chunk boundary is not doubled) and reports, for each partial
transcript, which part is settled: everything up to the last word boundary; the word still
being spoken may grow. ``stability`` = settled characters / all characters.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tristream_ros.errors import InputError
from tristream_ros.model.text_tokenizer import BLANK_ID, CHAR_SYMBOLS, CharVocab

SPACE_ID = CHAR_SYMBOLS.index(" ")


class CtcHead(nn.Module):
    def __init__(self, d_model: int, vocab_size: int = len(CHAR_SYMBOLS)):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., T, D) -> log-probabilities (..., T, vocab)."""
        return F.log_softmax(self.proj(self.norm(h)), dim=-1)


def ctc_loss(log_probs: torch.Tensor, input_lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """Mean CTC loss. log_probs (B, T, V); targets: one id list per item (no blanks)."""
    if log_probs.dim() != 3:
        raise InputError(f"ctc_loss expects log_probs (B, T, V), got {tuple(log_probs.shape)}")
    flat = torch.tensor([i for t in targets for i in t], dtype=torch.long)
    tlen = torch.tensor([len(t) for t in targets], dtype=torch.long)
    return F.ctc_loss(log_probs.transpose(0, 1), flat, input_lengths, tlen, blank=BLANK_ID,
                      reduction="mean", zero_infinity=True)


@dataclass(frozen=True)
class CtcPartial:
    text: str  # transcript so far (spaces collapsed, stripped)
    stable_text: str  # the prefix that will not change
    stability: float  # len(stable_text) / len(text), 1.0 for an empty or finished transcript


class GreedyCtcDecoder:
    """Greedy CTC decoding over log-probabilities that arrive chunk by chunk."""

    def __init__(self):
        self.vocab = CharVocab()
        self.reset()

    def reset(self) -> None:
        self._prev = BLANK_ID
        self._chars: list[str] = []
        self.frames = 0
        self.last_nonblank_frame = -1

    def accept(self, log_probs: torch.Tensor) -> CtcPartial:
        """log_probs (t, V) for the next t encoder frames -> the partial transcript so far."""
        if log_probs.dim() != 2 or log_probs.shape[1] != len(CHAR_SYMBOLS):
            raise InputError(f"GreedyCtcDecoder expects (t, {len(CHAR_SYMBOLS)}) log-probs, got {tuple(log_probs.shape)}")
        ids = log_probs.argmax(dim=-1).tolist()
        for j, i in enumerate(ids):
            if i != BLANK_ID:
                self.last_nonblank_frame = self.frames + j
                if i != self._prev:
                    self._chars.append(CHAR_SYMBOLS[i])
            self._prev = i
        self.frames += len(ids)
        return self.partial()

    @property
    def text(self) -> str:
        return " ".join("".join(self._chars).split())

    def partial(self, final: bool = False) -> CtcPartial:
        raw = "".join(self._chars)
        text = " ".join(raw.split())
        if final or not text:
            return CtcPartial(text, text, 1.0)
        if raw.endswith(" "):
            stable = text
        else:
            cut = text.rfind(" ")
            stable = text[:cut] if cut >= 0 else ""
        return CtcPartial(text, stable, len(stable) / len(text))


def greedy_decode(log_probs: torch.Tensor) -> str:
    """Whole-utterance greedy CTC: (T, V) -> text."""
    dec = GreedyCtcDecoder()
    dec.accept(log_probs)
    return dec.text
