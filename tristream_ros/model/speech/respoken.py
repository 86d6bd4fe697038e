"""Speech tokens of the recognised sentence re-spoken by a voice the encoder was trained on.

The fusion decoder reads the query twice: as text and as our encoder's speech tokens. For the
espeak-ng voices the encoder was trained on, the tokens of the user's own audio are what the
decoder expects; for voices it never heard (real people, other engines), above all in a noisy,
reverberant room, they are not, and they can pull the answer away from a sentence the text
gets right ("please drive over to the blue ball", heard exactly, answered "moving forward").
``RespokenTokens`` instead speaks the front end's final sentence with a training voice (espeak-ng
en-us+m3 at 160 wpm, the generator's default VoiceSpec) and encodes that, so the decoder always
sees tokens like the ones it was trained on, for exactly the sentence that was recognised.
Measured in docs/training.md ("Respoken speech tokens, endpointing, no camera"); the speech node's
``speech.tokens_from`` picks ``respoken`` (default) or ``audio``.

    respoken = RespokenTokens(speech_model)
    tokens = respoken("turn left")   # (T'', llm_dim); cached per sentence

Cost at end of utterance: one espeak-ng run (~20-40 ms) and one encoder pass over ~1-2 s of
audio, or nothing for a sentence heard before (LRU cache).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np
import torch

from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.signal.features import SAMPLE_RATE

LEAD_S = 0.2  # s of silence before the sentence (the VAD's pre-roll gives live speech about as much)
TRAIL_S = 0.2  # s of silence after it
CACHE_SIZE = 256  # sentences


def _espeak_training_voice(text: str) -> np.ndarray:
    from tristream_ros.data.speech_synth import VoiceSpec, espeak_synthesize
    return espeak_synthesize(text, VoiceSpec())  # en-us+m3, 160 wpm, pitch 50: a training-split voice


class RespokenTokens:
    """sentence -> speech tokens of that sentence spoken by ``synthesize`` (float32 16 kHz)."""

    def __init__(self, model: SpeechModel, synthesize: Callable[[str], np.ndarray] | None = None,
                 cache_size: int = CACHE_SIZE):
        from tristream_ros.model.speech.tokenizer import _EncoderFrontend
        self._encoder = _EncoderFrontend(model)  # its own streams: the live utterance's are left alone
        self._synthesize = synthesize or _espeak_training_voice
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = int(cache_size)

    def __call__(self, text: str) -> torch.Tensor:
        text = " ".join(text.split())
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        speech = self._synthesize(text).astype(np.float32)
        pcm = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), speech,
                              np.zeros(int(TRAIL_S * SAMPLE_RATE), np.float32)])
        self._encoder.start()
        self._encoder.feed(pcm)
        _, tokens = self._encoder.end()  # (T'', llm_dim)
        self._cache[text] = tokens
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return tokens
