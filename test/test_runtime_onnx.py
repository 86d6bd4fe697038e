"""Edge runtime: ONNX Runtime (fp32 and int8) against the PyTorch modules, KV-cache steps,
corrupt/missing files, bad inputs, and `tristream export`.

Tolerances (stated once, used everywhere):
    fp32: |onnx - torch| <= FP32_ATOL + FP32_RTOL * |torch| element-wise
    int8: relative L2 error ||onnx - torch|| / ||torch|| <= INT8_REL (dynamic int8 weights and
          activations, reduce_range 7-bit weights; measured ~1-3% on these random-weight models)
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.config import ROUTES, TriStreamConfig
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.tristream_model import TriStreamModel
from tristream_ros.runtime.export_onnx import (DECODER_FILE, MANIFEST_FILE, SPEECH_FILE, VISION_FILE,
                                               export_model, model_bytes)
from tristream_ros.runtime.inference import (ROUTE_NAMES, DecoderVision, OnnxInference, TorchInference,
                                             open_session)
from tristream_ros.runtime.quantize import quantize_export

torch.set_num_threads(1)

FP32_ATOL, FP32_RTOL = 1e-4, 1e-4
INT8_REL = 0.08


def _rel(ref, got) -> float:
    return float(np.linalg.norm(np.asarray(got) - ref) / max(np.linalg.norm(ref), 1e-12))


def _close(ref, got):
    np.testing.assert_allclose(got, ref, atol=FP32_ATOL, rtol=FP32_RTOL)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    cfg = TriStreamConfig.preset("tiny")
    model = TriStreamModel(cfg).eval()
    with torch.no_grad():  # non-zero gates / adapters so that every vision path and expert contributes
        for name, p in model.decoder.named_parameters():
            if name.endswith(("gate", "alpha", "down")) and "proj" not in name:
                p.normal_(0, 0.5)
    speech = SpeechModel(cfg.speech).eval()
    root = tmp_path_factory.mktemp("runtime")
    export_model(model, root / "fp32", speech_model=speech, progress=False)
    quantize_export(root / "fp32", root / "int8", progress=False)
    return {"model": model, "speech": speech, "root": root, "torch": TorchInference(model, speech),
            "fp32": OnnxInference(root / "fp32"), "int8": OnnxInference(root / "int8")}


def _vision(cfg, rng, n=5):
    d = cfg["fusion"]["hidden_size"]
    return DecoderVision(rng.standard_normal((n, d)).astype(np.float32), np.array([True] * (n - 1) + [False]),
                         rng.standard_normal(d).astype(np.float32))


def test_route_names_match_model():
    assert ROUTE_NAMES == ROUTES


def test_manifest_and_external_data(exported):
    root = exported["root"]
    man = json.loads((root / "fp32" / MANIFEST_FILE).read_text())
    assert man["files"] == {"vision": VISION_FILE, "speech": SPEECH_FILE, "decoder": DECODER_FILE}
    for name in man["files"].values():
        assert (root / "fp32" / (name + ".data")).is_file()  # weights live beside the graph
        assert man["bytes"][name] == model_bytes(root / "fp32" / name) > (root / "fp32" / name).stat().st_size
    q = json.loads((root / "int8" / MANIFEST_FILE).read_text())
    assert q["int8"] is True and "Conv" not in q["quantized_ops"]
    assert q["bytes"][DECODER_FILE] < 0.6 * man["bytes"][DECODER_FILE]


def test_vision_fp32_parity_any_tile_count(exported):
    rng = np.random.default_rng(0)
    for n in (1, 3, 16):
        tiles = rng.uniform(0, 255, (n, 3, 64, 64)).astype(np.float32)
        ref = exported["torch"].encode_tiles(tiles)
        assert ref.shape == (n, 32, 2, 2)
        _close(ref, exported["fp32"].encode_tiles(tiles))


def test_vision_int8_leaves_convolutions_fp32(exported):
    g = onnx.load(str(exported["root"] / "int8" / VISION_FILE), load_external_data=False)
    ops = {n.op_type for n in g.graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops and "MatMulInteger" in ops
    tiles = np.random.default_rng(1).uniform(0, 255, (4, 3, 64, 64)).astype(np.float32)
    assert _rel(exported["torch"].encode_tiles(tiles), exported["int8"].encode_tiles(tiles)) <= INT8_REL


def test_speech_chunks_match_encoder_stream(exported):
    """Chunk by chunk (cache filling up to its bound, a short last chunk) = the model's EncoderStream."""
    enc = exported["speech"].encoder
    cfg = enc.cfg
    rng = np.random.default_rng(2)
    mel = rng.standard_normal((6 * 2 * cfg.chunk_frames + 6, cfg.n_mels)).astype(np.float32)
    with torch.no_grad():
        st = enc.stream()
        h_ref, c_ref = st.accept_mel(mel)
        h_end, c_end = st.finish()
    h_ref, c_ref = torch.cat([h_ref, h_end]).numpy(), torch.cat([c_ref, c_end]).numpy()
    outs = {}
    for backend in ("torch", "fp32", "int8"):
        inf = exported[backend]
        state, hs = inf.speech_state(), []
        for i in range(0, mel.shape[0], 2 * cfg.chunk_frames):
            h, c, state = inf.speech_chunk(mel[i:i + 2 * cfg.chunk_frames], state)
            hs.append(h)
            assert state.key.shape[3] <= cfg.left_context_frames  # bounded cache
        outs[backend] = np.concatenate(hs)
    assert state.frames_out == h_ref.shape[0]
    _close(h_ref, outs["torch"])
    _close(h_ref, outs["fp32"])
    assert _rel(h_ref, outs["int8"]) <= INT8_REL


@pytest.mark.parametrize("route", ROUTES)
def test_decoder_kv_cache_steps(exported, route):
    """Prefill (with a speech-embedding position) then 5 greedy steps with the KV cache: ONNX
    fp32 = PyTorch at every step, and the cached logits = a full recompute of the sequence."""
    rng = np.random.default_rng(3)
    inf_t, inf_o, inf_q = exported["torch"], exported["fp32"], exported["int8"]
    d = inf_t.hidden_size
    vis = None if route == "speech" else _vision(inf_t.config, rng)
    ids = [1, -1, 4, 7, 9, 4]
    emb = np.zeros((len(ids), d), np.float32)
    emb[1] = rng.standard_normal(d)  # a projected speech token
    ct = co = cq = None
    seq_ids, seq_emb = list(ids), emb
    step_ids, step_emb = ids, emb
    int8_errs = []
    for step in range(6):
        ot = inf_t.decoder_step(step_ids, route, ct, inputs_embeds=step_emb, vision=vis)
        oo = inf_o.decoder_step(step_ids, route, co, inputs_embeds=step_emb, vision=vis)
        oq = inf_q.decoder_step(step_ids, route, cq, inputs_embeds=step_emb, vision=vis)
        _close(ot.logits, oo.logits)
        _close(ot.hidden, oo.hidden)
        _close(ot.cache.key, oo.cache.key)
        _close(ot.cache.value, oo.cache.value)
        assert oo.cache.length == len(seq_ids)
        int8_errs.append(_rel(ot.logits, oq.logits))
        full = inf_t.decoder_step(seq_ids, route, None, inputs_embeds=seq_emb, vision=vis)
        _close(full.logits, ot.logits)
        ct, co, cq = ot.cache, oo.cache, oq.cache
        nxt = int(ot.logits.argmax())
        step_ids, step_emb = [nxt], np.zeros((1, d), np.float32)
        seq_ids, seq_emb = seq_ids + [nxt], np.concatenate([seq_emb, step_emb])
    assert max(int8_errs) <= INT8_REL, int8_errs


def test_speech_route_ignores_vision(exported):
    rng = np.random.default_rng(4)
    inf = exported["fp32"]
    a = inf.decoder_step([1, 5, 4], "speech", vision=None)
    b = inf.decoder_step([1, 5, 4], "speech", vision=_vision(inf.config, rng))
    np.testing.assert_array_equal(a.logits, b.logits)


def test_corrupt_or_missing_onnx_files_name_the_path(exported, tmp_path):
    src = exported["root"] / "fp32"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / MANIFEST_FILE).write_text((src / MANIFEST_FILE).read_text())
    (bad / VISION_FILE).write_bytes(b"this is not an onnx protobuf \x00\xff" * 10)  # garbage
    data = (src / DECODER_FILE).read_bytes()
    (bad / DECODER_FILE).write_bytes(data[: len(data) // 2])  # truncated graph
    # speech graph intact but its weights file missing
    (bad / SPEECH_FILE).write_bytes((src / SPEECH_FILE).read_bytes())
    inf = OnnxInference(bad)
    tiles = np.zeros((1, 3, 64, 64), np.float32)
    with pytest.raises(ModelFileError, match=f"cannot load ONNX model {bad / VISION_FILE}"):
        inf.encode_tiles(tiles)
    with pytest.raises(ModelFileError, match=str(bad / DECODER_FILE)):
        inf.decoder_step([1], "speech")
    with pytest.raises(ModelFileError, match=str(bad / SPEECH_FILE)):
        inf.speech_chunk(np.zeros((16, 80), np.float32), inf.speech_state())
    with pytest.raises(ModelFileError, match="ONNX file not found: .*nothing.onnx"):
        open_session(tmp_path / "nothing.onnx")
    with pytest.raises(ModelFileError, match="runtime manifest not found"):
        OnnxInference(tmp_path)
    with pytest.raises(ModelFileError, match="runtime folder not found"):
        OnnxInference(tmp_path / "absent")


def test_bad_inputs_are_refused(exported):
    inf = exported["fp32"]
    with pytest.raises(InputError, match=r"tiles of shape \(n>=1, 3, 64, 64\)"):
        inf.encode_tiles(np.zeros((2, 64, 64, 3), np.float32))
    nan = np.zeros((1, 3, 64, 64), np.float32)
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        inf.encode_tiles(nan)
    with pytest.raises(InputError, match="T even"):
        inf.speech_chunk(np.zeros((15, 80), np.float32), inf.speech_state())
    with pytest.raises(InputError, match="T even"):
        inf.speech_chunk(np.zeros((0, 80), np.float32), inf.speech_state())
    with pytest.raises(InputError, match="needs vision"):
        inf.decoder_step([1, 4], "trimodal")
    with pytest.raises(InputError, match="unknown route 'audio'"):
        inf.decoder_step([1, 4], "audio")
    with pytest.raises(InputError, match="input_ids must be in"):
        inf.decoder_step([1, 10_000], "speech")
    with pytest.raises(InputError, match="no input positions"):
        inf.decoder_step([], "speech")


def test_export_command_from_checkpoint(exported, tmp_path):
    from tristream_ros.commands import export_cmd
    from tristream_ros.model.checkpoint import save_checkpoint
    from safetensors.torch import save_file

    ckpt = save_checkpoint(exported["model"], tmp_path / "ckpt")
    save_file({k: v.contiguous() for k, v in exported["speech"].state_dict().items()},
              str(ckpt / export_cmd.SPEECH_MODEL_FILE))
    p = argparse.ArgumentParser()
    export_cmd.add_arguments(p)
    out = tmp_path / "exp"
    assert export_cmd.run(p.parse_args(["--config", "tiny", "--checkpoint", str(ckpt), "--out", str(out),
                                        "--int8", "--parts", "speech,decoder"])) == 0
    inf = OnnxInference(tmp_path / "exp-int8")
    assert sorted(inf.manifest.files) == ["decoder", "speech"] and inf.manifest.int8
    ref = exported["torch"].decoder_step([1, 5, 4], "speech")
    _close(ref.logits, OnnxInference(out).decoder_step([1, 5, 4], "speech").logits)
    # wrong preset name and missing checkpoint: exit code 2 with a message
    assert export_cmd.run(p.parse_args(["--config", "demo", "--checkpoint", str(ckpt), "--out", str(out)])) == 2
    assert export_cmd.run(p.parse_args(["--config", "tiny", "--checkpoint", str(tmp_path / "no"),
                                        "--out", str(out)])) == 2


def test_embedding_tables_stored_as_fp16(exported, tmp_path):
    """Large Gather-only tables become float16 + Cast; the decoder still matches PyTorch."""
    import shutil

    from tristream_ros.runtime.quantize import fp16_gather_tables
    folder = tmp_path / "fp16"
    shutil.copytree(exported["root"] / "int8", folder)
    assert fp16_gather_tables(folder / DECODER_FILE, min_elements=1000) >= 1  # the tiny 64 x 64 table
    g = onnx.load(str(folder / DECODER_FILE), load_external_data=False)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in g.graph.initializer)
    ref = exported["torch"].decoder_step([1, 5, 9, 4], "speech")
    assert _rel(ref.logits, OnnxInference(folder).decoder_step([1, 5, 9, 4], "speech").logits) <= INT8_REL
