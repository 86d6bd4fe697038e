"""The command-wrapper decoder in its own process (model/speech/decoder_process.py): a real child
process running pocketsphinx on real synthesised speech; the same words and word timing as the
decoder in this process, its errors raised here, and a child that dies mid-utterance costs that
one utterance's wrapper words, said in `problem`, never the front end."""
import os
import signal

import numpy as np
import pytest

from tristream_ros.errors import InputError
from tristream_ros.model.speech.command_wrappers import CommandWrappers
from tristream_ros.model.speech.decoder_process import DecoderProcess
from tristream_ros.model.speech.pocketsphinx_frontend import (DomainVocabulary, PocketsphinxConfig,
                                                              PocketsphinxRecognizer)

SENTENCES = ("stop", "turn left", "go back", "go to the red ball", "what colour is the box")
CHUNK = 1600  # samples fed at a time (0.1 s at 16 kHz), as the speech node's chunks arrive


def _config() -> PocketsphinxConfig:
    return PocketsphinxConfig(DomainVocabulary(SENTENCES, wrappers=CommandWrappers()))


def _speech(text: str, voice: str) -> np.ndarray:
    from tristream_ros.data.tts_engines import engine_synthesize
    from tristream_ros.training.evaluate_tts import _pad
    return _pad(engine_synthesize("flite", text, voice)).astype(np.float32)


def _decode(rec, audio: np.ndarray) -> str:
    rec.start()
    for i in range(0, len(audio), CHUNK):
        rec.feed(audio[i:i + CHUNK])
    return rec.end()


@pytest.fixture(scope="module")
def utterances():
    return [_speech("robot stop", "slt"), _speech("okay go to the red ball please", "rms"),
            _speech("turn left", "awb")]


def test_same_words_and_timing_as_in_this_process(utterances):
    here, child = PocketsphinxRecognizer(_config()), DecoderProcess(_config())
    try:
        assert not child.in_process and child.problem is None
        assert child._dict_lines == here._dict_lines  # what align_words_of reads
        for audio in utterances:  # one decoder for all: cepstral normalisation carries over in both
            a, b = _decode(here, audio), _decode(child, audio)
            assert a == b and a, (a, b)
            assert child.last_segments == here.last_segments and child.last_frames == here.last_frames
            assert child.acoustic_score == pytest.approx(here.acoustic_score)
        assert "robot" in _decode(child, utterances[0]).split()
    finally:
        child.close()


def test_child_errors_are_raised_here():
    bad = PocketsphinxConfig(DomainVocabulary(("turn left", "zorblaxify the gizmotron")))
    with pytest.raises(InputError, match="zorblaxify"):
        DecoderProcess(bad)


def test_close_ends_the_child():
    rec = DecoderProcess(_config())
    proc = rec._proc
    assert proc.poll() is None
    rec.close()
    assert proc.poll() is not None
    rec.close()  # twice is fine


def test_a_killed_child_costs_one_utterance_and_is_reported(utterances):
    rec = DecoderProcess(_config())
    audio = utterances[0]
    assert _decode(rec, audio) == "robot stop"
    rec.start()
    rec.feed(audio[:len(audio) // 2])
    os.kill(rec._proc.pid, signal.SIGKILL)
    rec._proc.wait()
    for i in range(len(audio) // 2, len(audio), CHUNK):  # the rest of the utterance: no error
        rec.feed(audio[i:i + CHUNK])
    assert rec.end() == "" and rec.last_segments == []  # that utterance's wrapper words are lost
    assert rec.in_process and ("exited" in rec.problem or "stopped reading" in rec.problem), rec.problem
    assert _decode(rec, audio) == "robot stop"  # the next one is decoded here
    assert rec.last_segments[0][0] == "robot"


def test_front_end_runs_the_wrapper_decoder_in_a_child_by_default():
    from tristream_ros.model.speech.frontend import configured_frontend
    tok = configured_frontend("pocketsphinx", command_wrappers=True)
    try:
        assert isinstance(tok.wrapper_recognizer, DecoderProcess) and tok.wrapper_problem is None
        here = configured_frontend("pocketsphinx", command_wrappers=True, wrapper_process=False)
        assert isinstance(here.wrapper_recognizer, PocketsphinxRecognizer) and here.wrapper_problem is None
        audio = _speech("robot go back", "slt")
        a, b = tok.transcribe(audio), here.transcribe(audio)
        assert (a.text, tok.last_wrapper) == (b.text, here.last_wrapper) == ("go back", ("robot", ""))
    finally:
        tok.close()
