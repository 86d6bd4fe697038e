"""Hugging Face-layout Whisper encoder folders (written here with random tensors, real names)
load into SpeechEncoder; missing / mis-shaped / pickled / corrupt files give clear errors."""
import json

import pytest
import torch
from safetensors.torch import save_file

from tristream_ros.errors import ModelFileError
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.pretrained_whisper import load_whisper_encoder, whisper_speech_config
from tristream_ros.model.speech.streaming_encoder import SpeechEncoder, sinusoids

torch.set_num_threads(1)
D, LAYERS, HEADS, FFN, MELS, POS = 64, 2, 4, 128, 80, 100


def hf_whisper_tensors(prefix="model.encoder.", dtype=torch.float32):
    """The encoder tensors WhisperForConditionalGeneration.save_pretrained writes (plus a decoder one)."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g).to(dtype)  # noqa: E731
    t = {f"{prefix}conv1.weight": r(D, MELS, 3), f"{prefix}conv1.bias": r(D),
         f"{prefix}conv2.weight": r(D, D, 3), f"{prefix}conv2.bias": r(D),
         f"{prefix}embed_positions.weight": sinusoids(POS, D).to(dtype),
         f"{prefix}layer_norm.weight": r(D), f"{prefix}layer_norm.bias": r(D),
         "model.decoder.embed_tokens.weight": r(10, D)}
    for i in range(LAYERS):
        p = f"{prefix}layers.{i}."
        for n in ("q_proj", "v_proj", "out_proj"):
            t[f"{p}self_attn.{n}.weight"], t[f"{p}self_attn.{n}.bias"] = r(D, D), r(D)
        t[f"{p}self_attn.k_proj.weight"] = r(D, D)  # Whisper's k_proj has no bias
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            t[f"{p}{n}.weight"], t[f"{p}{n}.bias"] = r(D), r(D)
        t[f"{p}fc1.weight"], t[f"{p}fc1.bias"] = r(FFN, D), r(FFN)
        t[f"{p}fc2.weight"], t[f"{p}fc2.bias"] = r(D, FFN), r(D)
    return t


def write_folder(path, tensors, config=True):
    path.mkdir(parents=True, exist_ok=True)
    if config:
        (path / "config.json").write_text(json.dumps({
            "model_type": "whisper", "d_model": D, "encoder_layers": LAYERS, "encoder_attention_heads": HEADS,
            "encoder_ffn_dim": FFN, "num_mel_bins": MELS, "max_source_positions": POS}))
    save_file(tensors, str(path / "model.safetensors"))
    return path


@pytest.mark.parametrize("prefix", ["model.encoder.", "encoder.", ""])
def test_load_maps_every_tensor(tmp_path, prefix):
    tensors = hf_whisper_tensors(prefix)
    folder = write_folder(tmp_path / "whisper", tensors)
    enc, report = load_whisper_encoder(folder, chunk_frames=4, left_context_frames=8)
    assert (enc.cfg.d_model, enc.cfg.n_layers, enc.cfg.n_heads, enc.cfg.n_mels) == (D, LAYERS, HEADS, MELS)
    assert enc.cfg.chunk_frames == 4 and report.prefix == prefix and not report.missing
    sd = enc.state_dict()
    torch.testing.assert_close(sd["layers.1.fc2.weight"], tensors[f"{prefix}layers.1.fc2.weight"])
    torch.testing.assert_close(sd["layers.0.self_attn.k_proj.weight"], tensors[f"{prefix}layers.0.self_attn.k_proj.weight"])
    torch.testing.assert_close(sd["embed_positions"], tensors[f"{prefix}embed_positions.weight"])
    assert len(report.loaded) == len(sd)
    with torch.no_grad():  # it runs, streaming past the 100-position table (2 s > 100 frames)
        out = enc(torch.randn(1, 300, MELS))
    assert out.hidden.shape == (1, 150, D) and torch.isfinite(out.hidden).all()


def test_fp16_checkpoint_is_cast_and_config_read(tmp_path):
    folder = write_folder(tmp_path / "w16", hf_whisper_tensors(dtype=torch.float16))
    assert whisper_speech_config(folder).ffn_dim == FFN
    enc, _ = load_whisper_encoder(folder)
    assert enc.conv1.weight.dtype == torch.float32


def test_into_an_existing_encoder_of_the_wrong_width(tmp_path):
    folder = write_folder(tmp_path / "w", hf_whisper_tensors())
    ours = SpeechEncoder(SpeechConfig.preset("tiny"))  # width 32, not 64
    with pytest.raises(ModelFileError, match=r"mis-shaped .*conv1.weight: checkpoint \(64, 80, 3\) vs ours \(32, 80, 3\)"):
        load_whisper_encoder(folder, ours)
    _, report = load_whisper_encoder(folder, ours, strict=False)
    assert report.mismatched and not report.loaded


def test_missing_and_misshaped_tensors(tmp_path):
    t = hf_whisper_tensors()
    del t["model.encoder.layers.1.fc2.weight"]
    t["model.encoder.layer_norm.weight"] = torch.zeros(D + 1)
    folder = write_folder(tmp_path / "bad", t)
    with pytest.raises(ModelFileError) as err:
        load_whisper_encoder(folder)
    msg = str(err.value)
    assert "missing 1 tensors: ['model.encoder.layers.1.fc2.weight']" in msg
    assert "model.encoder.layer_norm.weight: checkpoint (65,) vs ours (64,)" in msg


def test_bad_folders(tmp_path):
    with pytest.raises(ModelFileError, match="not a folder"):
        load_whisper_encoder(tmp_path / "nope")
    folder = write_folder(tmp_path / "noconf", hf_whisper_tensors(), config=False)
    with pytest.raises(ModelFileError, match="Whisper config not found: .*config.json"):
        load_whisper_encoder(folder)
    pick = tmp_path / "pickled"
    pick.mkdir()
    (pick / "config.json").write_text(json.dumps({"d_model": D, "encoder_layers": 1, "encoder_attention_heads": 4,
                                                  "encoder_ffn_dim": FFN, "num_mel_bins": MELS,
                                                  "max_source_positions": POS}))
    (pick / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelFileError, match=r"pytorch_model.bin.*never loaded"):
        load_whisper_encoder(pick)
    (pick / "model.safetensors").write_bytes(b"garbage that is not safetensors")
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_whisper_encoder(pick)
    notw = write_folder(tmp_path / "notwhisper", {"lm_head.weight": torch.zeros(2, 2)})
    with pytest.raises(ModelFileError, match="no Whisper encoder tensors"):
        load_whisper_encoder(notw)
