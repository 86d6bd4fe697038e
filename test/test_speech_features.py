"""Incremental log-mel equals the batch computation, whatever the chunking; bad audio is refused."""
import glob
import wave

import numpy as np
import pytest

from tristream_ros.errors import InputError
from tristream_ros.signal.features import (HOP_LENGTH, N_MELS, IncrementalLogMel, log_mel_spectrogram, mel_filterbank,
                                           num_frames, validate_pcm)

SPEECH = sorted(glob.glob("/work/shared/data/speech/*.wav"))


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def stream(x, sizes, n_mels=N_MELS):
    inc = IncrementalLogMel(n_mels)
    out, i, k = [], 0, 0
    while i < x.size:
        n = sizes[k % len(sizes)]
        out.append(inc.accept(x[i:i + n]))
        i, k = i + n, k + 1
    partial = np.concatenate(out)
    return partial, np.concatenate([partial, inc.finish()])


@pytest.mark.parametrize("sizes", [[1, 7, 159, 161], [160], [400], [1234, 3], [16000]])
def test_incremental_equals_batch_real_speech(sizes):
    x = read_wav(SPEECH[1])
    partial, full = stream(x, sizes)
    batch = log_mel_spectrogram(x)
    assert full.shape == batch.shape == (num_frames(x.size), N_MELS)
    np.testing.assert_allclose(full, batch, atol=1e-5, rtol=0)
    no_pad = log_mel_spectrogram(x, pad_end=False)
    np.testing.assert_allclose(partial, no_pad, atol=1e-5, rtol=0)


def test_random_chunks_and_128_mels():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16000 + 77)).astype(np.float32)
    sizes = [int(s) for s in rng.integers(0, 700, 50)]
    _, full = stream(x, [max(s, 1) for s in sizes], n_mels=128)
    np.testing.assert_allclose(full, log_mel_spectrogram(x, 128), atol=1e-5, rtol=0)


def test_frames_come_as_soon_as_complete():
    inc = IncrementalLogMel()
    assert inc.accept(np.zeros(199, np.float32)).shape == (0, N_MELS)  # needs 200 samples (+200 zero pad)
    assert inc.accept(np.zeros(1, np.float32)).shape == (1, N_MELS)
    assert inc.accept(np.zeros(HOP_LENGTH, np.float32)).shape == (1, N_MELS)
    assert inc.accept(np.zeros(0, np.float32)).shape == (0, N_MELS)  # empty chunk: nothing, no error


def test_filterbank_and_silence_values():
    fb = mel_filterbank(80)
    assert fb.shape == (80, 201) and (fb >= 0).all() and (fb.sum(1) > 0).all()
    feats = log_mel_spectrogram(np.zeros(1600, np.float32))
    assert feats.shape == (10, 80)
    np.testing.assert_allclose(feats, -1.0)  # floor: (LOG_FLOOR + 4) / 4
    assert log_mel_spectrogram(np.zeros(0, np.float32)).shape == (0, 80)


def test_bad_audio_is_refused_with_a_clear_message():
    x = np.zeros(1600, np.float32)
    with pytest.raises(InputError, match="8000 Hz"):
        log_mel_spectrogram(x, sample_rate=8000)
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(InputError, match="NaN/Inf.*index 5"):
        IncrementalLogMel().accept(bad)
    bad[5] = np.inf
    with pytest.raises(InputError, match="non-finite"):
        log_mel_spectrogram(bad)
    with pytest.raises(InputError, match="dtype int16"):
        validate_pcm(np.zeros(10, np.int16))
    with pytest.raises(InputError, match="zero-length"):
        validate_pcm(np.zeros(0, np.float32))
    with pytest.raises(InputError, match=r"shape \(2, 10\)"):
        validate_pcm(np.zeros((2, 10), np.float32))
