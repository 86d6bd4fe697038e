"""safetensors checkpoints (round trip, clear errors) and Hugging Face Qwen2 import."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from tristream_ros.errors import ModelFileError
from tristream_ros.model.checkpoint import (CONFIG_FILE, MODEL_FILE, VOCAB_FILE, load_checkpoint,
                                            save_checkpoint)
from tristream_ros.model.config import TriStreamConfig
from tristream_ros.model.fusion.decoder import FusionDecoder
from tristream_ros.model.pretrained import fusion_config_from_hf, load_qwen2_decoder
from tristream_ros.model.text_tokenizer import TextTokenizer
from tristream_ros.model.tristream_model import Query, TriStreamModel

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    tok = TextTokenizer.build(["turn left", "stop here", "the ball is red"])
    model = TriStreamModel(TriStreamConfig.preset("tiny", vocab_size=len(tok)), tok).eval()
    folder = save_checkpoint(model, tmp_path_factory.mktemp("ckpt"))
    return model, folder


def test_roundtrip(saved):
    model, folder = saved
    assert {p.name for p in folder.iterdir()} == {MODEL_FILE, CONFIG_FILE, VOCAB_FILE}
    loaded = load_checkpoint(folder)
    assert loaded.tokenizer.words == model.tokenizer.words
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        torch.testing.assert_close(a, b)
    q = Query("turn left", torch.randn(4, model.config.speech_dim))
    assert list(model.answer(q))[-1].text == list(loaded.answer(q))[-1].text


def _copy(folder, tmp_path):
    out = tmp_path / "bad"
    out.mkdir()
    for p in folder.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


def test_missing_and_misshaped_tensors_are_named(saved, tmp_path):
    _, folder = saved
    bad = _copy(folder, tmp_path)
    state = load_file(str(bad / MODEL_FILE))
    del state["decoder.norm.weight"]
    state["router.speech_proj.weight"] = torch.zeros(3, 3)
    state["stray.tensor"] = torch.zeros(1)
    save_file(state, str(bad / MODEL_FILE))
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(bad)
    msg = str(err.value)
    assert "missing tensors: decoder.norm.weight" in msg
    assert "router.speech_proj.weight: file (3, 3)" in msg
    assert "unexpected tensors: stray.tensor" in msg


def test_corrupt_or_absent_files(saved, tmp_path):
    _, folder = saved
    bad = _copy(folder, tmp_path)
    (bad / MODEL_FILE).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelFileError, match="cannot read weights"):
        load_checkpoint(bad)
    (bad / MODEL_FILE).unlink()
    with pytest.raises(ModelFileError, match="not found"):
        load_checkpoint(bad)
    with pytest.raises(ModelFileError, match="folder not found"):
        load_checkpoint(tmp_path / "nowhere")


# --- Hugging Face Qwen2 layout ---------------------------------------------------------------
HF_CFG = dict(model_type="qwen2", vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, intermediate_size=48, rope_theta=1000000.0, rms_norm_eps=1e-6,
              tie_word_embeddings=True, max_position_embeddings=128)


def _hf_tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    c = HF_CFG
    d, hd, kv = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"], c["num_key_value_heads"]

    def r(*shape):
        return (torch.randn(*shape, generator=g) * 0.2).to(torch.bfloat16)  # Hub checkpoints are bf16
    t = {"model.embed_tokens.weight": r(c["vocab_size"], d), "model.norm.weight": 1 + r(d)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t.update({p + "self_attn.q_proj.weight": r(d, d), p + "self_attn.q_proj.bias": r(d),
                  p + "self_attn.k_proj.weight": r(kv * hd, d), p + "self_attn.k_proj.bias": r(kv * hd),
                  p + "self_attn.v_proj.weight": r(kv * hd, d), p + "self_attn.v_proj.bias": r(kv * hd),
                  p + "self_attn.o_proj.weight": r(d, d), p + "mlp.gate_proj.weight": r(c["intermediate_size"], d),
                  p + "mlp.up_proj.weight": r(c["intermediate_size"], d),
                  p + "mlp.down_proj.weight": r(d, c["intermediate_size"]),
                  p + "input_layernorm.weight": 1 + r(d), p + "post_attention_layernorm.weight": 1 + r(d)})
    return t


def _reference_qwen2_logits(t, ids):
    """An independent, loop-free Qwen2 forward written from the architecture description."""
    c = HF_CFG
    t = {k: v.float() for k, v in t.items()}
    H, kv = c["num_attention_heads"], c["num_key_value_heads"]
    d = c["hidden_size"]
    hd = d // H
    T = ids.numel()

    def rms(x, w):
        return w * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + c["rms_norm_eps"])

    inv = c["rope_theta"] ** (-torch.arange(0, hd, 2).float() / hd)
    ang = torch.arange(T).float()[:, None] * inv[None]  # (T, hd/2)
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rope(x):  # (H, T, hd)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = t["model.embed_tokens.weight"][ids]
    causal = torch.full((T, T), -math.inf).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, t[p + "input_layernorm.weight"])
        q = (h @ t[p + "self_attn.q_proj.weight"].T + t[p + "self_attn.q_proj.bias"]).view(T, H, hd).transpose(0, 1)
        k = (h @ t[p + "self_attn.k_proj.weight"].T + t[p + "self_attn.k_proj.bias"]).view(T, kv, hd).transpose(0, 1)
        v = (h @ t[p + "self_attn.v_proj.weight"].T + t[p + "self_attn.v_proj.bias"]).view(T, kv, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        k, v = k.repeat_interleave(H // kv, 0), v.repeat_interleave(H // kv, 0)
        att = (q @ k.transpose(-1, -2) / math.sqrt(hd) + causal).softmax(-1)
        x = x + (att @ v).transpose(0, 1).reshape(T, d) @ t[p + "self_attn.o_proj.weight"].T
        h = rms(x, t[p + "post_attention_layernorm.weight"])
        ff = torch.nn.functional.silu(h @ t[p + "mlp.gate_proj.weight"].T) * (h @ t[p + "mlp.up_proj.weight"].T)
        x = x + ff @ t[p + "mlp.down_proj.weight"].T
    return rms(x, t["model.norm.weight"]) @ t["model.embed_tokens.weight"].T


def _write_hf(folder, tensors, sharded):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(HF_CFG))
    if not sharded:
        save_file(tensors, str(folder / "model.safetensors"))
        return
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for fname, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(folder / fname))
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}))


@pytest.mark.parametrize("sharded,kind", [(False, "adapter"), (True, "adapter"), (True, "ffn")])
def test_qwen2_import_matches_reference(tmp_path, sharded, kind):
    tensors = _hf_tensors()
    _write_hf(tmp_path / "qwen", tensors, sharded)
    cfg = fusion_config_from_hf(tmp_path / "qwen", TriStreamConfig.preset("tiny").fusion)
    cfg.expert_kind = kind
    dec = FusionDecoder(cfg).eval()
    report = load_qwen2_decoder(dec, tmp_path / "qwen")
    assert "embed_tokens.weight" in report.loaded and any("cross_attn" in n for n in report.kept_init)
    ids = torch.tensor([1, 7, 3, 22, 5, 9])
    with torch.no_grad():
        ours = dec.logits(dec(dec.embed_tokens(ids)[None], torch.tensor([2]), vision=None))[0]
    torch.testing.assert_close(ours, _reference_qwen2_logits(tensors, ids), atol=2e-4, rtol=2e-4)


def test_qwen2_import_errors(tmp_path):
    tensors = _hf_tensors()
    del tensors["model.layers.1.mlp.up_proj.weight"]
    _write_hf(tmp_path / "q", tensors, sharded=False)
    cfg = fusion_config_from_hf(tmp_path / "q", TriStreamConfig.preset("tiny").fusion)
    with pytest.raises(ModelFileError, match="model.layers.1.mlp.up_proj.weight"):
        load_qwen2_decoder(FusionDecoder(cfg), tmp_path / "q")
    tensors = _hf_tensors()
    tensors["model.norm.weight"] = torch.ones(31)
    _write_hf(tmp_path / "q2", tensors, sharded=False)
    with pytest.raises(ModelFileError, match=r"model.norm.weight: file \(31,\)"):
        load_qwen2_decoder(FusionDecoder(cfg), tmp_path / "q2")
    with pytest.raises(ModelFileError, match="hidden_size=32 vs fusion.hidden_size=64"):
        load_qwen2_decoder(FusionDecoder(TriStreamConfig.preset("tiny").fusion), tmp_path / "q2")
    (tmp_path / "q3").mkdir()
    (tmp_path / "q3" / "config.json").write_text(json.dumps(dict(HF_CFG, model_type="llama")))
    with pytest.raises(ModelFileError, match="model_type='llama'"):
        fusion_config_from_hf(tmp_path / "q3")


def test_qwen2_into_whole_model(tmp_path):
    from tristream_ros.model.pretrained import load_qwen2_into_model
    tensors = _hf_tensors()
    _write_hf(tmp_path / "qwen", tensors, sharded=False)
    cfg = TriStreamConfig.preset("tiny")
    cfg.fusion = fusion_config_from_hf(tmp_path / "qwen", cfg.fusion)
    cfg.speech = cfg.speech.__class__.from_dict(dict(cfg.speech.to_dict(), llm_dim=cfg.fusion.hidden_size))
    model = TriStreamModel(cfg).eval()
    load_qwen2_into_model(model, tmp_path / "qwen")
    ids = [7, 3, 22]
    x = model._prompt_embeddings(0, None, ids, [])  # <bos> <sep> <sep> ids <sep>
    with torch.no_grad():
        ours = model.decoder.logits(model.decoder(x[None], torch.tensor([0])))[0]
    ref = _reference_qwen2_logits(tensors, torch.tensor([1, 4, 4] + ids + [4]))
    torch.testing.assert_close(ours, ref, atol=2e-4, rtol=2e-4)


def test_model_json_files_fail_with_the_file_named(tmp_path):
    from tristream_ros.model.json_file import read_json
    with pytest.raises(ModelFileError, match=r"runtime manifest not found: .*m\.json \(run"):
        read_json(tmp_path / "m.json", "runtime manifest", " (run `tristream export` first)")
    for name, body in (("bad.json", b"{oops"), ("latin.json", b'{"a": "\xe9"}')):
        (tmp_path / name).write_bytes(body)
        with pytest.raises(ModelFileError, match=f"cannot read vocabulary file .*{name}: not valid JSON"):
            read_json(tmp_path / name, "vocabulary file")
    (tmp_path / "ok.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "ok.json", "x") == {"a": [1, 2]}
