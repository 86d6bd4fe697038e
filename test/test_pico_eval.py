"""A fourth TTS engine (SVOX Pico, PyPI ttspico: HMM voices of two real speakers): real synthesis
to 16 kHz float32, pitch and rate honoured, clear errors, the recogniser's Pico pool, and
`tristream eval --engine pico` through the real default front end + the shipped model.
ttspico is a requirements.txt dependency: without it these tests fail (no skip)."""
import json

import numpy as np
import pytest

from tristream_ros.data import pico_synth, tts_engines
from tristream_ros.data.speech_synth import SAMPLE_RATE
from tristream_ros.errors import InputError


def test_pico_voices_and_synthesis():
    assert tts_engines.engine_voices("pico") == ("en-US", "en-GB")
    for v in pico_synth.available_voices():
        x = tts_engines.engine_synthesize("pico", "turn left now", v)
        assert x.dtype == np.float32 and x.ndim == 1
        assert 0.4 < len(x) / SAMPLE_RATE < 3.0
        assert 0.05 < np.abs(x).max() <= 1.0
    a = pico_synth.pico_synthesize("stop", "en-US")
    b = pico_synth.pico_synthesize("go to the red ball", "en-US")
    assert len(b) > 2 * len(a)  # the text is what is spoken


def test_pico_rate_and_pitch_change_the_speech():
    base = pico_synth.pico_synthesize("please turn to your left", "en-US")
    slow = pico_synth.pico_synthesize("please turn to your left", "en-US", rate=70)
    assert len(slow) > 1.2 * len(base)

    def f0(x):  # autocorrelation pitch of the loudest 100 ms, Hz
        i = int(np.argmax(np.convolve(x ** 2, np.ones(1600), "valid")))
        seg = x[i:i + 1600] - x[i:i + 1600].mean()
        ac = np.correlate(seg, seg, "full")[1600:]
        lo, hi = SAMPLE_RATE // 500, SAMPLE_RATE // 60  # 60-500 Hz
        return SAMPLE_RATE / (lo + int(np.argmax(ac[lo:hi])))
    low = pico_synth.pico_synthesize("please turn to your left", "en-US", pitch=60)
    assert f0(low) < 0.8 * f0(base)
    # deterministic: a fresh engine per call (a shared one carries state from call to call)
    assert np.array_equal(pico_synth.pico_synthesize("please turn to your left", "en-US"), base)


def test_pico_bad_input_refused():
    with pytest.raises(InputError, match="no voice"):
        pico_synth.pico_synthesize("stop", "de-DE")
    with pytest.raises(InputError, match="empty"):
        pico_synth.pico_synthesize("  ", "en-US")
    with pytest.raises(InputError, match="pitch"):
        pico_synth.pico_synthesize("stop", "en-US", pitch=300)
    with pytest.raises(InputError, match="rate"):
        pico_synth.pico_synthesize("stop", "en-US", rate=5)


def test_pico_pool_items():
    from tristream_ros.data.dataset import pico_pool_sample
    from tristream_ros.data.recombined_text import contains_heldout_query, names_heldout_pair
    items = [pico_pool_sample(3, i) for i in range(12)]
    again = pico_pool_sample(3, 5)
    assert items[5] is None and again is None or np.array_equal(items[5]["audio"], again["audio"])
    spoken = [s for s in items if s is not None]
    assert len(spoken) >= 8
    for s in spoken:
        assert s["voice"]["engine"] == "pico" and s["voice"]["voice"] in pico_synth.DEFAULT_VOICES
        assert s["query"] and not names_heldout_pair(s["query"]) and not contains_heldout_query(s["query"])
        assert 0 <= s["speech_start_s"] < s["speech_end_s"] <= len(s["audio"]) / SAMPLE_RATE


def test_eval_engine_pico_runs_frontend_and_model(tmp_path):
    from tristream_ros.cli import main
    out = tmp_path / "pico.json"
    rc = main(["eval", "--engine", "pico", "--voices", "en-GB", "--queries", "3", "--json",
               "--predictions", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    v = report["per_voice"]["en-GB"]
    assert v["n"] == 3 and all(p["heard"] for p in report["predictions"]["en-GB"])
    assert v["transcript_cer"] < 0.3  # clean Pico speech is transcribed (session 23: 0.0 on 30)


def test_pico_pool_cache_and_option(tmp_path):
    """The recogniser's Pico pool goes through the same cache as the other pools (log-mel of the
    voiced span + transcript, keyed by seed / size / kind) and its option is checked."""
    from tristream_ros.data.dataset import pico_pool_sample
    from tristream_ros.training.recognizer import RecognizerOptions
    from tristream_ros.training.speech_pool import speech_pool
    mel, text = speech_pool(2, 6, 80, tmp_path, processes=1, progress=False, kind="pico")
    assert (tmp_path / "pico_pool_s2_n6.npz").is_file()
    assert text and all(k.startswith("picopool-") for k in text)
    for k, m in mel.items():
        assert m.ndim == 2 and m.shape[1] == 80 and m.shape[0] > 10
        assert text[k] == pico_pool_sample(2, int(k.split("-")[1]))["query"]
    again, again_text = speech_pool(2, 6, 80, tmp_path, processes=1, progress=False, kind="pico")
    assert again_text == text and all(np.array_equal(again[k], mel[k]) for k in mel)
    with pytest.raises(InputError, match="pico_pool"):
        RecognizerOptions(pico_pool=-1)
