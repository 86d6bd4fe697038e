"""Pure tests of tristream_ros.signal.audio_format (no ROS)."""
import wave

import numpy as np
import pytest

from ros_helpers import SPEECH_WAV
from tristream_ros.errors import InputError
from tristream_ros.signal.audio_format import (SAMPLE_FORMATS, AudioFormat, StreamResampler, decode_pcm,
                                               encode_pcm, pcm_to_core, resample, to_mono, validate_format)


def speech() -> np.ndarray:
    with wave.open(str(SPEECH_WAV)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


@pytest.mark.parametrize("fmt", list(SAMPLE_FORMATS))
@pytest.mark.parametrize("channels", [1, 2])
def test_encode_decode_roundtrip(fmt, channels):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(500, channels)).astype(np.float32)
    y = decode_pcm(encode_pcm(x, fmt), fmt, channels)
    assert y.shape == (500, channels) and y.dtype == np.float32
    tol = {"S16LE": 1 / 32768, "S32LE": 1e-7, "F32LE": 0, "U8": 1 / 128}[fmt]
    np.testing.assert_allclose(y, x, atol=tol)


def test_s16_bytes_exact_and_full_scale():
    pcm = speech()[:4000].tobytes()
    assert encode_pcm(decode_pcm(pcm, "S16LE"), "S16LE") == pcm  # decode -> encode is lossless
    edges = np.array([-32768, -1, 0, 1, 32767], "<i2").tobytes()
    assert encode_pcm(decode_pcm(edges, "S16LE"), "S16LE") == edges
    assert decode_pcm(edges, "S16LE").min() == -1.0


def test_u8_is_unsigned_with_midpoint_128():
    y = decode_pcm(bytes([0, 128, 255]), "U8")[:, 0]
    np.testing.assert_allclose(y, [-1.0, 0.0, 127 / 128])


def test_interleaved_channels_and_mono():
    stereo = np.array([[0.5, -0.5], [0.25, 0.75]], np.float32)
    raw = encode_pcm(stereo, "F32LE")
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), [0.5, -0.5, 0.25, 0.75])  # interleaved L R L R
    np.testing.assert_allclose(to_mono(decode_pcm(raw, "F32LE", 2)), [0.0, 0.5])


@pytest.mark.parametrize("rate,channels,fmt,needle", [
    (0, 1, "S16LE", "sample_rate 0"),
    (-16000, 1, "S16LE", "sample_rate -16000"),
    (16000, 0, "S16LE", "channels 0"),
    (16000, 1, "S24BE", "'S24BE'"),
    (16000, 1, "", "''"),
])
def test_validation_names_bad_value(rate, channels, fmt, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        validate_format(rate, channels, fmt)
    with pytest.raises(ValueError):  # InputError is a ValueError
        AudioFormat(rate, channels, fmt)


def test_partial_frame_and_nan_rejected():
    with pytest.raises(InputError, match="3 bytes"):
        decode_pcm(b"\x00\x01\x02", "S16LE")
    with pytest.raises(InputError, match="2 channel"):
        decode_pcm(b"\x00" * 6, "S16LE", channels=2)
    with pytest.raises(InputError, match="NaN"):
        decode_pcm(np.array([0.0, np.nan], "<f4").tobytes(), "F32LE")


@pytest.mark.parametrize("src", [8000, 22050, 44100, 48000])
def test_resample_tone_to_16k(src):
    f = 440.0  # Hz
    x = np.sin(2 * np.pi * f * np.arange(src) / src).astype(np.float32)  # 1 s
    y = resample(x, src, 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    ref = np.sin(2 * np.pi * f * np.arange(16000) / 16000)
    assert np.abs(y[300:-300] - ref[300:-300]).max() < 2e-3


def test_resample_downsampling_does_not_alias():
    t = np.arange(48000) / 48000
    passband = resample(np.sin(2 * np.pi * 6000 * t).astype(np.float32), 48000)
    stopband = resample(np.sin(2 * np.pi * 10000 * t).astype(np.float32), 48000)  # above 8 kHz Nyquist
    assert np.sqrt(np.mean(passband[500:-500] ** 2)) > 0.69
    assert np.sqrt(np.mean(stopband[500:-500] ** 2)) < 1e-3


def test_stream_resampler_matches_whole_signal():
    x = (speech()[:20000] / 32768).astype(np.float32)
    whole = resample(x, 16000, 44100)
    rs = StreamResampler(16000, 44100)
    parts = [rs.process(x[i:i + 777]) for i in range(0, x.size, 777)]
    streamed = np.concatenate(parts)
    assert whole.size - streamed.size < 100  # only the filter delay is still pending
    np.testing.assert_allclose(streamed, whole[:streamed.size], atol=1e-6)


def test_pcm_to_core_stereo_48k():
    t = np.arange(4800) / 48000
    stereo = np.stack([np.sin(2 * np.pi * 300 * t)] * 2, axis=1).astype(np.float32) * 0.5
    core = pcm_to_core(encode_pcm(stereo, "S32LE"), AudioFormat(48000, 2, "S32LE"))
    assert core.shape == (1600,) and core.dtype == np.float32  # 0.1 s at 16 kHz mono
    assert 0.34 < np.sqrt(np.mean(core[100:-100] ** 2)) < 0.36
