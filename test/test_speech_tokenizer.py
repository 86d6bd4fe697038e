"""SpeechTokenizer: events while the user speaks, utterances at end of speech, the three front
ends, and the edge cases (silence only, 50 ms of speech, a 60 s monologue, bad audio)."""
import glob
import wave

import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.speech.tokenizer import (CtcSpeechTokenizer, EndOfUtterance, HybridSpeechTokenizer,
                                                  PartialTranscript, SpeechStarted, TentativeEndOfUtterance, Utterance,
                                                  build_speech_tokenizer)
from tristream_ros.model.speech.vad import SileroVadModel, StreamingVad, VadConfig

torch.set_num_threads(1)
SPEECH = sorted(glob.glob("/work/shared/data/speech/*.wav"))


def read_wav(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def vad_model():
    return SileroVadModel()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SpeechModel(SpeechConfig.preset("tiny")).eval()


def ctc_tok(model, vad_model, **vad):
    return CtcSpeechTokenizer(model, StreamingVad(VadConfig(**vad), vad_model))


def feed(tok, x, chunk=1600):
    events = []
    for i in range(0, x.size, chunk):
        events += tok.accept_audio(x[i:i + chunk])
    return events


def test_events_in_order_and_utterance_shapes(model, vad_model):
    x = read_wav(SPEECH[1])  # "he was not an ill disposed young man", 3 s
    y = np.concatenate([np.zeros(8000, np.float32), x, np.zeros(12000, np.float32)])
    tok = ctc_tok(model, vad_model)
    events = feed(tok, y)
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted and kinds[-1] is EndOfUtterance
    assert set(kinds[1:-1]) <= {PartialTranscript}
    utt = events[-1].utterance
    assert isinstance(utt, Utterance) and utt.frontend == "ctc" and not utt.forced
    assert 0.4 < utt.start_s < 0.9 and 3.0 < utt.end_s < 3.8
    # tokens: 10 per second over the routed audio (speech + pre-roll + the end-of-speech wait)
    heard_s = utt.end_s - utt.start_s
    assert utt.tokens.shape[1] == model.cfg.llm_dim
    assert 10 * heard_s - 2 <= utt.tokens.shape[0] <= 10 * (heard_s + 0.2 + 0.5) + 2
    assert utt.text == utt.ctc_text
    assert tok.finish() is utt  # finish() hands the same utterance back once
    assert tok.finish() is None


def test_chunking_does_not_change_the_result(model, vad_model):
    y = np.concatenate([np.zeros(8000, np.float32), read_wav(SPEECH[4]), np.zeros(12000, np.float32)])
    a = ctc_tok(model, vad_model).transcribe(y)
    tok = ctc_tok(model, vad_model)
    feed(tok, y, chunk=777)
    b = tok.finish()
    assert (a.start_s, a.end_s, a.ctc_text) == (b.start_s, b.end_s, b.ctc_text)
    torch.testing.assert_close(a.tokens, b.tokens, atol=1e-5, rtol=1e-4)


def test_silence_only_no_utterance(model, vad_model):
    tok = ctc_tok(model, vad_model)
    assert feed(tok, np.zeros(48000, np.float32)) == []
    assert tok.finish() is None
    assert tok.transcribe(np.zeros(16000, np.float32)) is None


def test_fifty_ms_of_speech(model, vad_model):
    burst = read_wav(SPEECH[1])[16000:16800]  # 50 ms
    tok = ctc_tok(model, vad_model)
    events = feed(tok, np.concatenate([np.zeros(16000, np.float32), burst, np.zeros(16000, np.float32)]))
    utt = tok.finish()
    if utt is not None:  # a blip may or may not count; it must be short and well-formed
        assert utt.end_s - utt.start_s < 0.5 and utt.tokens.dim() == 2
    assert all(isinstance(e, (SpeechStarted, PartialTranscript, EndOfUtterance)) for e in events)
    # speech that is only 50 ms long, then the stream ends: finish() closes it without error
    tok = ctc_tok(model, vad_model, min_speech_ms=32)
    tok.accept_audio(burst)
    tok.finish()


def test_sixty_second_monologue_bounded(model, vad_model):
    """60 s of continuous real speech (recordings back to back) with the tiny preset: one long
    utterance, the encoder's per-layer cache stays within the left context, tokens ~10/s."""
    speech = np.concatenate([read_wav(p)[2400:-2400] for p in SPEECH])  # trim pauses between files
    mono = np.tile(speech, int(np.ceil(60 * 16000 / speech.size)))[: 60 * 16000]
    tok = ctc_tok(model, vad_model, min_silence_ms=2000)  # pauses inside the reading don't end it
    max_cache = 0
    for i in range(0, mono.size, 8000):
        tok.accept_audio(mono[i:i + 8000])
        max_cache = max(max_cache, tok.encoder_frontend.encoder.cache_frames)
    utt = tok.finish()
    assert utt is not None and utt.forced and utt.end_s - utt.start_s > 55
    assert max_cache <= model.cfg.left_context_frames
    assert abs(utt.tokens.shape[0] - 10 * (utt.end_s - utt.start_s)) < 10


def test_bad_audio_clear_errors(model, vad_model):
    tok = ctc_tok(model, vad_model)
    with pytest.raises(InputError, match="NaN/Inf"):
        tok.accept_audio(np.array([0.0, np.nan, 0.1], np.float32))
    with pytest.raises(InputError, match="NaN/Inf"):
        tok.accept_audio(np.array([np.inf] * 10, np.float32))
    with pytest.raises(InputError, match="sample rate 48000 Hz"):
        tok.accept_audio(np.zeros(4800, np.float32), sample_rate=48000)
    with pytest.raises(InputError, match="zero-length"):
        tok.accept_audio(np.zeros(0, np.float32))
    with pytest.raises(InputError, match="dtype int16"):
        tok.accept_audio(np.zeros(160, np.int16))
    # still usable afterwards
    assert tok.accept_audio(np.zeros(1600, np.float32)) == []


def test_hybrid_text_from_pocketsphinx_tokens_from_encoder(model, vad_model):
    y = np.concatenate([np.zeros(8000, np.float32), read_wav(SPEECH[4]), np.zeros(12000, np.float32)])
    tok = HybridSpeechTokenizer(model, vad=StreamingVad(VadConfig(tentative_silence_ms=120), vad_model))
    events = feed(tok, y)
    utt = [e.utterance for e in events if isinstance(e, EndOfUtterance)][0]
    preview = [e.utterance for e in events if isinstance(e, TentativeEndOfUtterance)][0]
    assert preview.text == utt.text  # the speculative transcript was already the final one
    assert utt.frontend == "hybrid"
    assert utt.text.split()[:4] == ["he", "might", "even", "have"]  # "he might even have been made amiable himself"
    assert utt.tokens.shape[1] == model.cfg.llm_dim and utt.tokens.shape[0] > 20
    assert utt.ctc_text != utt.text  # random tiny weights: gibberish CTC, as expected untrained
    partials = [e for e in events if isinstance(e, PartialTranscript)]
    assert partials and partials[-1].text.split()[0] == "he"


def test_factory():
    with pytest.raises(InputError, match="unknown speech frontend 'whisper'"):
        build_speech_tokenizer("whisper")
    with pytest.raises(InputError, match="needs a SpeechModel"):
        build_speech_tokenizer("hybrid")


def test_two_utterances_in_one_stream(model, vad_model):
    gap = np.zeros(16000, np.float32)
    y = np.concatenate([gap, read_wav(SPEECH[1]), gap, read_wav(SPEECH[4]), gap])
    tok = ctc_tok(model, vad_model)
    ends = [e for e in feed(tok, y) if isinstance(e, EndOfUtterance)]
    assert len(ends) == 2
    a, b = ends[0].utterance, ends[1].utterance
    assert 0.9 < a.start_s < 1.6 and 4.6 < b.start_s < 5.6 and a.end_s < b.start_s
    assert tok.finish() is b


def test_tentative_end_preview_does_not_disturb_the_streams(model, vad_model):
    y = np.concatenate([np.zeros(8000, np.float32), read_wav(SPEECH[1]), np.zeros(12000, np.float32)])
    plain = ctc_tok(model, vad_model)
    final_plain = [e for e in feed(plain, y) if isinstance(e, EndOfUtterance)][0].utterance
    spec = ctc_tok(model, vad_model, tentative_silence_ms=120)
    events = feed(spec, y)
    kinds = [type(e).__name__ for e in events if not isinstance(e, PartialTranscript)]
    assert kinds[-2:] == ["TentativeEndOfUtterance", "EndOfUtterance"]
    ends = [e for e in events if not isinstance(e, (PartialTranscript, SpeechStarted))]
    preview, final = ends[-2].utterance, ends[-1].utterance
    assert preview.end_s <= final.end_s and preview.tokens.shape[0] <= final.tokens.shape[0]
    assert final.ctc_text == final_plain.ctc_text
    torch.testing.assert_close(final.tokens, final_plain.tokens)


def test_tentative_end_then_speech_resumes(model, vad_model):
    a, b = read_wav(SPEECH[1]), read_wav(SPEECH[4])
    pause = np.zeros(int(0.25 * 16000), np.float32)  # longer than the tentative wait, shorter than the end wait
    y = np.concatenate([np.zeros(8000, np.float32), a[:-1600], pause, b[1600:], np.zeros(16000, np.float32)])
    tok = ctc_tok(model, vad_model, tentative_silence_ms=100, min_silence_ms=600)
    kinds = [type(e).__name__ for e in feed(tok, y) if not isinstance(e, PartialTranscript)]
    assert "SpeechResumed" in kinds
    assert kinds.index("TentativeEndOfUtterance") < kinds.index("SpeechResumed")
    assert kinds.count("EndOfUtterance") == 1 and kinds[-1] == "EndOfUtterance"
