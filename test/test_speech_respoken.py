"""Respoken speech tokens (model/speech/respoken.py): the recognised sentence spoken by a training
espeak-ng voice and encoded by the shipped speech model, what the hybrid front end hands the
model by default (speech.tokens_from: respoken)."""
import numpy as np
import pytest
import torch
from shipped_model import MODEL
from shipped_model import shipped  # noqa: F401  (fixture)

from tristream_ros.errors import InputError


def test_respoken_tokens_shape_cache_and_content(shipped):
    from tristream_ros.model.speech.respoken import RespokenTokens
    model, speech = shipped
    rs = RespokenTokens(speech, cache_size=2)
    a = rs("turn left")
    assert a.ndim == 2 and a.shape[1] == speech.cfg.llm_dim
    assert rs("turn  left") is a  # cached per (whitespace-normalised) sentence
    b = rs("go to the red ball please")
    assert b.shape[0] > a.shape[0]  # longer sentence, more tokens (one per 5 encoder frames)
    c = rs("turn right")
    assert not torch.allclose(a[: min(len(a), len(c))], c[: min(len(a), len(c))])
    rs("stop")  # cache of 2: "turn left" is evicted and re-encoded identically
    assert torch.allclose(rs("turn left"), a)


def test_hybrid_hands_respoken_tokens_for_its_sentence(shipped):
    from tristream_ros.data.flite_synth import flite_synthesize
    from tristream_ros.model.speech.respoken import RespokenTokens
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_tts import _pad
    _, speech = shipped
    audio = _pad(flite_synthesize("turn left now", "awb"))
    utt_r = build_frontend(speech, "hybrid", MODEL, tokens_from="respoken").transcribe(audio)
    utt_a = build_frontend(speech, "hybrid", MODEL, tokens_from="audio").transcribe(audio)
    assert utt_r.text == utt_a.text == "turn left now"
    assert torch.allclose(utt_r.tokens, RespokenTokens(speech)(utt_r.text))
    assert utt_r.tokens.shape != utt_a.tokens.shape or not torch.allclose(utt_r.tokens, utt_a.tokens)


def test_unknown_token_source_is_a_clear_error(shipped):
    from tristream_ros.model.speech.frontend import configured_frontend
    _, speech = shipped
    with pytest.raises(InputError, match="token source"):
        configured_frontend("hybrid", speech, tokens_from="video")


def test_respoken_tokens_answer_a_heldout_command(shipped):
    """A held-out phrasing the model answered 'moving forward' from flite voices' tokens in a
    reverberant room (session 11, `eval --engine flite --room`, query tts-014): with the respoken
    tokens of the same (exactly heard) sentence it drives to the ball."""
    from tristream_ros.model.speech.respoken import RespokenTokens
    from tristream_ros.training.evaluate import run_query
    from tristream_ros.training.evaluate_tts import tts_queries
    model, speech = shipped
    q = tts_queries(15, 0)[14]
    assert q["query"] == "please drive over to the blue ball"
    p = run_query(model, q["query"], RespokenTokens(speech)(q["query"]), q["frames"], None, dense=False)
    assert (p["action"], p["text"]) == ("navigate_to", "going to the blue ball")
