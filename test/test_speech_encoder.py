"""Streaming speech encoder, adapter and CTC head: streaming equals batch, bounded state,
cost grows with audio heard, configs validated, bad input refused."""
import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.speech.adapter import AdapterStream, SpeechAdapter
from tristream_ros.model.speech.config import PRESETS, SpeechConfig
from tristream_ros.model.speech.ctc import CtcHead, GreedyCtcDecoder, ctc_loss, greedy_decode
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.speech.streaming_encoder import (SpeechEncoder, chunk_attention_mask, estimate_macs,
                                                          sinusoids)
from tristream_ros.model.text_tokenizer import CHAR_SYMBOLS, CharVocab

torch.set_num_threads(1)


def tiny(**kw):
    torch.manual_seed(0)
    return SpeechConfig.preset("tiny", **kw)


def test_presets_and_validation():
    assert set(PRESETS) == {"tiny", "demo", "omni-0.5b"}
    omni = SpeechConfig.preset("omni-0.5b")
    assert (omni.d_model, omni.n_layers, omni.n_heads, omni.n_mels, omni.llm_dim) == (1280, 32, 20, 128, 896)
    assert SpeechConfig.from_dict(omni.to_dict()) == omni
    assert SpeechConfig.preset("demo").chunk_ms == 320.0
    with pytest.raises(InputError, match="d_model=30 is not divisible by n_heads=4"):
        SpeechConfig(d_model=30, n_heads=4)
    with pytest.raises(InputError, match="chunk_frames must be a positive int, got 0"):
        SpeechConfig(chunk_frames=0)
    with pytest.raises(InputError, match="ctc_layer"):
        SpeechConfig(n_layers=2, ctc_layer=3)
    with pytest.raises(InputError, match="unknown speech preset 'huge'"):
        SpeechConfig.preset("huge")
    with pytest.raises(InputError, match="unknown keys"):
        SpeechConfig.from_dict({"width": 3})


@pytest.mark.parametrize("ctc_layer", [0, 1])
def test_streaming_equals_batch(ctc_layer):
    cfg = tiny(ctc_layer=ctc_layer)
    enc = SpeechEncoder(cfg).eval()
    rng = np.random.default_rng(1)
    mel = rng.standard_normal((157, cfg.n_mels)).astype(np.float32)  # odd length: padded by one frame
    with torch.no_grad():
        full = enc(torch.from_numpy(mel)[None])
    st = enc.stream()
    hs, cs, i = [], [], 0
    while i < mel.shape[0]:
        n = int(rng.integers(1, 23))
        h, c = st.accept_mel(mel[i:i + n])
        hs.append(h)
        cs.append(c)
        i += n
    h, c = st.finish()
    hs.append(h)
    cs.append(c)
    assert full.hidden.shape == (1, 79, cfg.d_model)
    torch.testing.assert_close(torch.cat(hs), full.hidden[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.cat(cs), full.ctc_hidden[0], atol=1e-5, rtol=1e-4)


def test_no_lookahead_past_the_chunk():
    """Changing later audio never changes frames of earlier chunks (what makes partials final)."""
    cfg = tiny()
    enc = SpeechEncoder(cfg).eval()
    mel = torch.randn(1, 64, cfg.n_mels)
    mel2 = mel.clone()
    mel2[:, 2 * cfg.chunk_frames:] = torch.randn(1, 64 - 2 * cfg.chunk_frames, cfg.n_mels)
    with torch.no_grad():
        a, b = enc(mel).hidden, enc(mel2).hidden
    torch.testing.assert_close(a[:, :cfg.chunk_frames], b[:, :cfg.chunk_frames])
    assert not torch.allclose(a[:, cfg.chunk_frames:], b[:, cfg.chunk_frames:])


def test_chunk_mask_bounded_left_context():
    m = chunk_attention_mask(12, chunk=4, left=4)
    assert m[5].tolist() == [True] * 8 + [False] * 4  # own chunk + the 4 frames before it
    assert m[9].tolist() == [False] * 4 + [True] * 8
    assert m[0].tolist() == [True] * 4 + [False] * 8


def test_positions_continue_past_the_table():
    cfg = tiny(max_source_positions=10)
    enc = SpeechEncoder(cfg)
    torch.testing.assert_close(enc.positions(8, 5), sinusoids(13, cfg.d_model)[8:])


def test_sixty_second_monologue_bounded_state():
    """60 s of audio through the tiny encoder: the KV cache never exceeds the left context."""
    cfg = tiny()
    enc = SpeechEncoder(cfg).eval()
    st = enc.stream()
    mel = torch.randn(6000, cfg.n_mels)  # 60 s of log-mel at 100 frames/s
    frames = 0
    for i in range(0, 6000, 50):  # 0.5 s pieces
        h, _ = st.accept_mel(mel[i:i + 50])
        frames += h.shape[0]
        assert st.cache_frames <= cfg.left_context_frames
    frames += st.finish()[0].shape[0]
    assert frames == 3000


def test_cost_grows_with_audio_not_a_window():
    cfg = SpeechConfig.preset("demo")
    one, three, ten = (estimate_macs(cfg, s) for s in (1, 3, 10))
    assert one < three < ten
    assert 8 < ten / one < 11  # about linear
    padded = estimate_macs(cfg, 1, window_s=30.0)
    assert padded > 25 * one
    omni = SpeechConfig.preset("omni-0.5b")
    assert 900e9 < estimate_macs(omni, 30, window_s=30.0) < 1200e9  # ~950 GMACs of Linear layers + attention matmuls


def test_adapter_stream_equals_batch_and_shapes():
    cfg = tiny()
    ad = SpeechAdapter(cfg).eval()
    x = torch.randn(23, cfg.d_model)
    with torch.no_grad():
        batch = ad(x[None])[0]
    assert batch.shape == (5, cfg.llm_dim)  # ceil(23 / 5)
    st = AdapterStream(ad)
    parts = [st.accept(x[i:i + 3]) for i in range(0, 23, 3)] + [st.finish()]
    torch.testing.assert_close(torch.cat(parts), batch, atol=1e-6, rtol=1e-5)
    with pytest.raises(InputError, match="SpeechAdapter expects"):
        ad(torch.randn(1, 5, cfg.d_model + 1))


def ids_logprobs(ids):
    lp = torch.full((len(ids), len(CHAR_SYMBOLS)), -10.0)
    lp[torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    return lp


def test_greedy_ctc_across_chunk_boundaries_and_stability():
    v = CharVocab()
    g, o, sp, b = v.encode("g")[0], v.encode("o")[0], 1, 0
    seq = [b, g, g, o, o, b, sp, g, g, b, o]  # "go" " " "go"
    dec = GreedyCtcDecoder()
    p1 = dec.accept(ids_logprobs(seq[:2]))
    assert (p1.text, p1.stable_text, p1.stability) == ("g", "", 0.0)  # word in progress
    dec.accept(ids_logprobs(seq[2:4]))  # repeated g across the boundary is not doubled
    p = dec.accept(ids_logprobs(seq[4:7]))
    assert p.text == "go" and p.stability == 1.0  # a word boundary settles the word
    p = dec.accept(ids_logprobs(seq[7:]))
    assert p.text == "go go" and p.stable_text == "go" and 0 < p.stability < 1
    assert greedy_decode(ids_logprobs(seq)) == "go go"


def test_speech_model_forward_and_ctc_loss():
    cfg = tiny()
    model = SpeechModel(cfg)
    mel = torch.randn(2, 100, cfg.n_mels)
    out = model(mel, torch.tensor([100, 60]))
    assert out.tokens.shape == (2, 10, cfg.llm_dim)
    assert out.ctc_log_probs.shape == (2, 50, len(CHAR_SYMBOLS))
    assert out.frame_lengths.tolist() == [50, 30] and out.token_lengths.tolist() == [10, 6]
    v = CharVocab()
    loss = ctc_loss(out.ctc_log_probs, out.frame_lengths, [v.encode("turn left"), v.encode("stop")])
    loss.backward()
    assert torch.isfinite(loss) and model.encoder.conv1.weight.grad is not None
    assert isinstance(model.ctc_head, CtcHead)


def test_bad_mel_input():
    cfg = tiny()
    enc = SpeechEncoder(cfg)
    with pytest.raises(InputError, match="zero-length"):
        enc(torch.zeros(1, 0, cfg.n_mels))
    with pytest.raises(InputError, match=r"n_mels=80\), got \(1, 10, 40\)"):
        enc(torch.zeros(1, 10, 40))
    bad = torch.zeros(1, 10, cfg.n_mels)
    bad[0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN/Inf"):
        enc(bad)
    with pytest.raises(InputError, match="NaN/Inf"):
        enc.stream().accept_mel(bad[0])
