"""Microphone and speaker nodes as real processes over DDS, with file-backed audio edges."""
import wave

import numpy as np
import pytest

from ros_helpers import SPEECH_WAV, NodeProcess, Probe, error_statuses


@pytest.fixture
def probe():
    p = Probe("audio_test_probe")
    yield p
    p.close()


def write_wav(path, pcm: np.ndarray, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate()


def wav_frames(path) -> int:
    """Frames in a WAV file another process is writing (0 while it is still empty)."""
    try:
        return read_wav(path)[0].size
    except (EOFError, OSError, wave.Error):
        return 0


# --- the audio edges without ROS --------------------------------------------------------

def test_wav_source_chunks_loop_and_pacing(tmp_path):
    import time

    from tristream_ros.inputs.microphone import WavFileSource

    speech, rate = read_wav(SPEECH_WAV)
    src = tmp_path / "a.wav"
    write_wav(src, speech[:1000], rate)
    with WavFileSource(src, chunk_frames=320, realtime=False) as s:
        chunks = [s.read() for _ in range(4)]
        assert [len(c) for c in chunks] == [640, 640, 640, 80] and s.read() is None
        assert b"".join(chunks) == speech[:1000].tobytes()
        assert (s.format.sample_rate, s.format.channels, s.format.sample_format) == (16000, 1, "S16LE")
    with WavFileSource(src, chunk_frames=400, loop=True, realtime=True) as s:
        t0 = time.monotonic()
        got = [s.read() for _ in range(8)]  # 3200 frames = 0.2 s of audio, wrapping around
        elapsed = time.monotonic() - t0
    assert all(got) and 0.15 < elapsed < 1.0, elapsed


@pytest.mark.parametrize("content,needle", [(None, "does not exist"), (b"RIFF????WAVEjunk", "not a PCM WAV")])
def test_wav_source_errors(tmp_path, content, needle):
    from tristream_ros.errors import InputError
    from tristream_ros.inputs.microphone import WavFileSource

    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        WavFileSource(path).connect()


def test_wav_sink_and_pyaudio_errors(tmp_path):
    from tristream_ros.errors import DeviceError, InputError
    from tristream_ros.inputs.microphone import PyAudioSource, PyAudioSourceConfig
    from tristream_ros.outputs.speaker import PyAudioSink, WavFileSink, pyaudio_output_available

    sink = WavFileSink(tmp_path / "o.wav")
    sink.open(22050)
    sink.write(np.full(100, 0.5, np.float32))
    assert wav_frames(tmp_path / "o.wav") == 100  # valid while still open
    with pytest.raises(InputError, match=r"mono \(N,\)"):
        sink.write(np.zeros((10, 2), np.float32))
    sink.close()
    got, rate = read_wav(tmp_path / "o.wav")
    assert rate == 22050 and np.all(got == 16384)
    with pytest.raises(InputError, match="sample_rate 0"):
        PyAudioSourceConfig(sample_rate=0)
    if pyaudio_output_available():
        pytest.skip("this machine has a sound device")
    with pytest.raises(DeviceError, match="no audio input device found"):
        PyAudioSource().connect()
    with pytest.raises(DeviceError, match="no audio output device found"):
        PyAudioSink().open(16000)


# --- nodes as processes --------------------------------------------------------------------

def test_microphone_to_speaker_across_processes(tmp_path, probe):
    """WAV -> microphone_node -> audio/input -> speaker_node -> WAV, sample for sample."""
    from tristream_ros.msg import AudioChunk

    speech, rate = read_wav(SPEECH_WAV)
    src = tmp_path / "in.wav"
    write_wav(src, speech[: rate * 3 // 2], rate)  # 1.5 s of real speech
    out = tmp_path / "out.wav"
    seen = probe.subscribe(AudioChunk, "audio/input")
    with NodeProcess("tristream_ros.ros.speaker_node",
                     ros_args=["-p", "sink:=wav", "-p", f"wav.path:={out}", "-r", "audio/output:=audio/input"]) as spk:
        with NodeProcess("tristream_ros.ros.microphone_node",
                         ros_args=["-p", "source:=wav", "-p", f"wav.path:={src}", "-p", "audio.chunk_frames:=320",
                                   "-p", "wait_for_subscribers:=2"]) as mic:
            assert mic.wait_output("end of audio stream", timeout=20), mic.output
            assert probe.wait_until(lambda: len(seen) >= 75, timeout=5), len(seen)
            assert probe.wait_until(lambda: wav_frames(out) >= rate * 3 // 2, 5), spk.output
            assert mic.alive() and spk.alive()
        assert spk.stop() == 0
    got, got_rate = read_wav(out)
    assert got_rate == rate
    np.testing.assert_array_equal(got, speech[: rate * 3 // 2])
    assert [m.sequence for m in seen] == list(range(75))  # 1.5 s / 20 ms chunks, none lost
    assert all(m.sample_format == "S16LE" and m.sample_rate == 16000 and m.header.frame_id == "microphone"
               for m in seen)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in seen]
    span = stamps[-1] - stamps[0]
    assert 1.2 < span < 2.5, span  # paced like a live microphone (74 chunk periods = 1.48 s)


def test_speaker_survives_bad_chunks_and_resamples(tmp_path, probe):
    from tristream_ros.msg import AudioChunk
    from tristream_ros.ros.conversions import numpy_to_audio_chunk

    out = tmp_path / "out.wav"
    probe.subscribe_diagnostics()
    pub = probe.publisher(AudioChunk, "audio/output")
    with NodeProcess("tristream_ros.ros.speaker_node",
                     ros_args=["-p", "sink:=wav", "-p", f"wav.path:={out}", "-p", "audio.sample_rate:=16000"]) as spk:
        assert probe.wait_for_subscribers(pub, 1, 15), spk.output
        bad_rate = AudioChunk(sample_rate=0, channels=1, sample_format="S16LE", sequence=0, data=bytes(640))
        bad_format = AudioChunk(sample_rate=16000, channels=1, sample_format="S24BE", sequence=1, data=bytes(640))
        odd_bytes = AudioChunk(sample_rate=16000, channels=1, sample_format="S16LE", sequence=2, data=bytes(641))
        t = np.arange(4800) / 48000
        tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # 0.1 s at 48 kHz
        stereo_48k = numpy_to_audio_chunk(np.stack([tone, tone], axis=1), 48000, "F32LE", sequence=3)
        for m in (bad_rate, bad_format, odd_bytes, stereo_48k):
            pub.publish(m)
        errors = lambda: error_statuses(probe.diagnostics(), "speaker_node")
        assert probe.wait_until(lambda: any("S24BE" in s.message for s in errors()), 10), spk.output
        assert probe.wait_until(lambda: wav_frames(out) > 1500, 10), spk.output
        assert spk.alive()
        log = spk.output
        assert "sample_rate 0" in log and "'S24BE'" in log and "641 bytes" in log
        values = {kv.key: kv.value for s in probe.diagnostics() for kv in s.values}
        assert probe.wait_until(lambda: any(kv.key == "bad_chunks" and kv.value == "3"
                                            for s in probe.diagnostics() for kv in s.values), 5), values
    got, rate = read_wav(out)
    assert rate == 16000 and 1500 <= got.size <= 1600  # 0.1 s resampled to 16 kHz (minus filter delay)
    rms = np.sqrt(np.mean((got[200:1400] / 32768.0) ** 2))
    assert 0.33 < rms < 0.37  # the 0.5-amplitude tone survived mono mix + resampling


def test_microphone_without_device_reports_and_stays_up(probe):
    probe.subscribe_diagnostics()
    with NodeProcess("tristream_ros.ros.microphone_node",
                     ros_args=["-p", "source:=pyaudio", "-p", "retry_s:=1.0"]) as mic:
        ok = probe.wait_until(lambda: any("no audio input device" in s.message
                                          for s in error_statuses(probe.diagnostics(), "microphone_node")), 15)
        assert ok, mic.output
        assert "no audio input device" in mic.output
        probe.spin_for(1.5)
        assert mic.alive()
        assert mic.stop() == 0


def test_bad_configuration_fail_fast_exits_with_clear_message():
    """With exit_on_config_error the node exits 2 (by default it stays up reporting the error:
    test_ros_config_errors.py)."""
    fail_fast = ["-p", "exit_on_config_error:=true"]
    with NodeProcess("tristream_ros.ros.microphone_node", ros_args=["-p", "source:=wav", *fail_fast]) as mic:
        mic.proc.wait(20)
        assert mic.proc.returncode == 2
        assert "wav.path is empty" in mic.output
    with NodeProcess("tristream_ros.ros.microphone_node",
                     ros_args=["-p", "source:=pyaudio", "-p", "audio.sample_rate:=0", *fail_fast]) as mic:
        mic.proc.wait(20)
        assert mic.proc.returncode == 2 and "sample_rate 0" in mic.output
