"""espeak-ng synthesis: real, non-silent 16 kHz speech of plausible length; cache; augmentation."""
import numpy as np
import pytest

from tristream_ros.data import speech_synth as S

pytestmark = pytest.mark.skipif(S.shutil.which(S.ESPEAK) is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("espeak_cache")


def test_synthesis_is_speech_like(cache):
    voice = S.VoiceSpec("en-us", "f3", speed_wpm=160, pitch=55)
    x = S.synthesize("go to the red ball", voice, cache)
    assert x.dtype == np.float32 and x.ndim == 1
    duration = len(x) / S.SAMPLE_RATE
    assert 0.6 < duration < 2.5  # five words at 160 wpm
    assert 0.02 < float(np.sqrt(np.mean(x**2))) < 0.9 and float(np.max(np.abs(x))) <= 1.0
    # energy is spread over the utterance (not one click): most 50 ms frames are voiced
    frames = x[: len(x) // 800 * 800].reshape(-1, 800)
    assert np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 0.01) > 0.5
    # slower speech is longer
    slow = S.synthesize("go to the red ball", S.VoiceSpec("en-us", "f3", speed_wpm=110, pitch=55), cache)
    assert len(slow) > 1.2 * len(x)


def test_cache_and_determinism(cache):
    voice = S.VoiceSpec("en-gb-scotland", "m7", speed_wpm=150, pitch=40)
    a = S.synthesize("turn left", voice, cache)
    assert len(list(cache.rglob("*.wav"))) >= 1
    b = S.synthesize("turn left", voice, cache)  # from the cache
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(S.synthesize("turn left", voice, None), a, atol=1 / 32768 + 1e-6)


def test_augmentation_is_deterministic_and_keeps_the_speech_span(cache):
    rng = np.random.default_rng(3)
    aug = S.sample_augment(rng)
    aug = S.AugmentSpec(**{**aug.__dict__, "noise": "pink", "snr_db": 10.0, "reverb_rt60_s": 0.4, "reverb_wet": 0.4})
    voice = S.sample_voice(np.random.default_rng(1), "train")
    u1 = S.render_utterance("stop", voice, aug, cache)
    u2 = S.render_utterance("stop", voice, aug, cache)
    np.testing.assert_array_equal(u1.audio, u2.audio)
    assert u1.audio.dtype == np.float32 and np.max(np.abs(u1.audio)) <= 1.0
    assert 0 < u1.speech_start_s < u1.speech_end_s < u1.duration_s
    assert u1.speech_start_s == pytest.approx(aug.lead_silence_s, abs=1e-3)
    lead = u1.audio[: int(u1.speech_start_s * S.SAMPLE_RATE)]
    voiced = u1.audio[int(u1.speech_start_s * S.SAMPLE_RATE): int(u1.speech_end_s * S.SAMPLE_RATE)]
    assert np.std(voiced) > 2 * np.std(lead) > 0  # noise in the silence, speech louder


def test_voice_splits_are_disjoint_and_complete():
    splits = {s: set(S.variants_for_split(s)) for s in S.SPLITS}
    assert not (splits["train"] & splits["test"]) and not (splits["train"] & splits["val"])
    assert not (splits["val"] & splits["test"])
    assert set().union(*splits.values()) == set(S.VARIANTS)
    rng = np.random.default_rng(0)
    assert {S.sample_voice(rng, "test").variant for _ in range(200)} <= splits["test"]


def test_parallel_generation_matches_serial(cache):
    rng = np.random.default_rng(5)
    jobs = [S.SpeechJob(t, S.sample_voice(rng, "val"), S.sample_augment(rng)) for t in ("stop", "back up", "turn right")]
    par = S.synthesize_many(jobs, cache, processes=2)
    ser = S.synthesize_many(jobs, cache, processes=1)
    for a, b in zip(par, ser):
        np.testing.assert_array_equal(a.audio, b.audio)


def test_bad_voice_parameters():
    with pytest.raises(S.InputError, match="pitch=120"):
        S.VoiceSpec(pitch=120)
