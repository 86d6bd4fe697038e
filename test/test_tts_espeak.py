"""espeak-ng TTS and the sentence streamer: 16 kHz float audio, first audio before the whole
answer, cancel (barge-in) within one chunk, bad settings refused."""
import threading
import time

import numpy as np
import pytest

from tristream_ros.errors import InputError
from tristream_ros.outputs.tts import (TTS, TTS_BACKENDS, AudioChunk, EspeakTTS, SentenceStreamer, build_tts,
                                       register_tts_backend)

ANSWER = "I can see a red ball on the left, next to two blue cups. Shall I go there? Say stop to cancel."


@pytest.fixture(scope="module")
def tts():
    return EspeakTTS()


class RecordingTTS(TTS):
    """Real espeak underneath, records what it was asked to say (to check the text pieces)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def synthesize(self, text):
        self.calls.append(text)
        return self.inner.synthesize(text)


def test_synthesize_16k_float(tts):
    a = tts.synthesize("Turn left.")
    assert a.dtype == np.float32 and a.ndim == 1
    assert 0.3 < a.size / 16000 < 2.0 and 0.05 < np.abs(a).max() <= 1.0
    slow = EspeakTTS(speed_wpm=100).synthesize("Turn left.")
    assert slow.size > a.size * 1.3
    assert tts.synthesize("   ").size == 0
    assert tts.synthesize("--help").size > 1000  # text is never taken for an option


def test_time_to_first_audio_for_a_sentence(tts):
    t = time.perf_counter()
    tts.synthesize("I can see a red ball on the left of the table.")
    ms = 1000 * (time.perf_counter() - t)
    print(f"espeak-ng: {ms:.1f} ms to synthesise a 10-word sentence")
    assert ms < 1000  # 16-75 ms measured on 2 cores; a gross regression check only


def test_bad_settings():
    with pytest.raises(InputError, match="speed_wpm=20 outside 80..450"):
        EspeakTTS(speed_wpm=20)
    with pytest.raises(InputError, match="pitch=120"):
        EspeakTTS(pitch=120)
    with pytest.raises(InputError, match="voice 'qqqq'"):
        EspeakTTS(voice="qqqq")
    with pytest.raises(InputError, match="not a voice name"):
        EspeakTTS(voice="en; rm -rf /")
    with pytest.raises(InputError, match="unknown TTS backend 'piper'"):
        build_tts("piper")
    with pytest.raises(InputError, match="must be str"):
        EspeakTTS().synthesize(42)


def test_backend_registry():
    class Beep(TTS):
        name = "beep"

        def synthesize(self, text):
            return np.zeros(160 * len(text), np.float32)

    register_tts_backend("beep", Beep)
    try:
        assert build_tts("beep").synthesize("ab").size == 320
    finally:
        TTS_BACKENDS.pop("beep")


def test_first_audio_at_the_first_clause_not_the_whole_answer(tts):
    rec = RecordingTTS(tts)
    st = SentenceStreamer(rec, chunk_ms=200)
    words = [w + " " for w in ANSWER.split()]
    first_at = None
    chunks = []
    for k, delta in enumerate(words):
        for c in st.push(delta):
            chunks.append(c)
            if first_at is None:
                first_at = k
    chunks += list(st.flush())
    assert first_at is not None and first_at < 8  # audio started while the answer was still streaming
    assert rec.calls[0] == "I can see a red ball"  # first piece: 6 words (no clause mark yet)
    assert rec.calls[1:] == ["on the left, next to two blue cups.", "Shall I go there?", "Say stop to cancel."]
    assert all(isinstance(c, AudioChunk) and c.samples.size <= 3200 for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert sum(c.piece_done for c in chunks) == 4


def test_clause_boundary_and_long_run_on(tts):
    rec = RecordingTTS(tts)
    st = SentenceStreamer(rec)
    list(st.stream(["Yes, ", "I will go to the red ball now"]))
    # "Yes," is 1 word < min_clause_words: no cut there; the first piece ends after 6 words
    assert rec.calls == ["Yes, I will go to the", "red ball now"]
    rec.calls.clear()
    st.reset()
    list(st.stream(["Okay then, turning left and going to the door over there by the window now"]))
    assert rec.calls[0] == "Okay then,"


def test_cancel_stops_within_one_chunk(tts):
    st = SentenceStreamer(tts, chunk_ms=100)
    got = []
    for c in st.stream([ANSWER]):
        got.append(c)
        if len(got) == 2:
            st.cancel()  # barge-in: the user started talking
    assert len(got) == 2 and st.cancelled
    assert list(st.push("More text. ")) == [] and list(st.flush()) == []
    st.reset()
    assert not st.cancelled and len(list(st.stream(["Stop."]))) >= 1


def test_cancel_from_another_thread(tts):
    st = SentenceStreamer(tts, chunk_ms=50)
    got, started = [], threading.Event()

    def consume():
        for c in st.stream([ANSWER]):
            got.append(c)
            started.set()
            time.sleep(0.01)  # a speaker consuming audio

    th = threading.Thread(target=consume)
    th.start()
    started.wait(5)
    st.cancel()
    n_at_cancel = len(got)
    th.join(5)
    assert not th.is_alive()
    assert len(got) <= n_at_cancel + 1  # at most the chunk already being handed over
    total = sum(c.samples.size for c in got)
    assert total < tts.synthesize(ANSWER).size / 2
