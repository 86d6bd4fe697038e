"""VisionConfig presets/validation, the MobileViT backbone, and HF-layout checkpoint loading."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.vision.config import VisionConfig
from tristream_ros.model.vision.mobilevit import MobileViTBackbone, make_divisible
from tristream_ros.model.vision.pretrained_mobilevit import (build_stve_from_hf, load_mobilevit_weights,
                                                             save_hf_mobilevit, vision_config_from_hf)
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder

torch.set_num_threads(1)

# Smallest config with the HF MobileViT block structure (depths 2/4/3, MobileNet stages 1/3).
SMALL_HF = dict(neck_hidden_sizes=(8, 8, 8, 16, 16, 16, 32), hidden_sizes=(16, 16, 16),
                transformer_depths=(2, 4, 3), mobilenet_stages=(1, 3), num_attention_heads=2,
                expand_ratio=2.0)


def test_presets():
    for name in ("tiny", "demo", "omni-0.5b"):
        c = VisionConfig.preset(name)
        assert c.grid_hw == (8, 8) and c.dense_tokens == 64 and c.num_tiles == 16
        assert c.max_tokens == 17  # 27% of 64
        assert VisionConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert VisionConfig.preset("omni-0.5b").token_dim == 640
    assert VisionConfig.preset("demo", temporal_window=2).temporal_window == 2
    with pytest.raises(InputError, match="huge"):
        VisionConfig.preset("huge")


@pytest.mark.parametrize("field, value", [
    ("tile_size", 48), ("image_size", 200), ("temporal_pool", "max"), ("max_keep_ratio", 0.0),
    ("hidden_sizes", (30, 40)), ("min_tokens", 40), ("score_threshold", 1.0), ("temporal_window", 0),
    ("hidden_act", "tanh"), ("neck_hidden_sizes", (8, 8)),
])
def test_config_validation_names_field(field, value):
    with pytest.raises(InputError, match=field):
        VisionConfig(**{field: value})


def test_backbone_shapes_and_make_divisible():
    assert make_divisible(16 * 4) == 64 and make_divisible(12) == 16 and make_divisible(3) == 8
    c = VisionConfig.preset("tiny")
    net = MobileViTBackbone(c).eval()
    with torch.no_grad():
        assert net(torch.rand(3, 3, 64, 64)).shape == (3, c.token_dim, 2, 2)  # one tile: 2x2 tokens
        assert net(torch.rand(1, 3, 256, 256)).shape == (1, c.token_dim, 8, 8)
    assert all(t.is_contiguous() for t in net.state_dict().values())  # even with channels_last


def test_folded_batchnorm_matches_and_follows_weight_changes():
    torch.manual_seed(0)
    net = MobileViTBackbone(VisionConfig.preset("tiny")).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
        folded = net(x)  # no autograd: BatchNorm folded into the convolutions
    assert_close(folded, net(x).detach())  # with autograd: the plain conv -> BatchNorm path
    with torch.no_grad():
        net.conv_stem.normalization.running_mean.add_(0.3)  # the folded cache must notice
        refolded = net(x)
    assert not torch.allclose(refolded, folded)
    assert_close(refolded, net(x).detach())
    out = net(x)  # eval mode with autograd (frozen BatchNorm fine-tuning) still reaches the weights
    out.sum().backward()
    assert net.conv_stem.convolution.weight.grad is not None


def _write_checkpoint(folder, backbone, extra=None, drop=(), reshape=None):
    """Write an HF-style MobileViTForImageClassification folder by hand (not via our saver)."""
    c = backbone.config
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"mobilevit.{k}": v.contiguous() for k, v in backbone.state_dict().items() if k not in drop}
    state["classifier.weight"] = torch.randn(10, c.token_dim)
    state["classifier.bias"] = torch.zeros(10)
    if reshape:
        state[reshape] = torch.zeros(3, 3)
    state.update(extra or {})
    save_file(state, str(folder / "model.safetensors"))
    hf = {"model_type": "mobilevit", "architectures": ["MobileViTForImageClassification"],
          "num_channels": 3, "image_size": 256, "patch_size": 2, "output_stride": 32,
          "hidden_sizes": list(c.hidden_sizes), "neck_hidden_sizes": list(c.neck_hidden_sizes),
          "num_attention_heads": c.num_attention_heads, "mlp_ratio": 2.0, "expand_ratio": c.expand_ratio,
          "hidden_act": "silu", "conv_kernel_size": 3, "layer_norm_eps": 1e-5, "qkv_bias": True,
          "num_labels": 10}
    (folder / "config.json").write_text(json.dumps(hf))
    return folder


def _random_backbone():
    torch.manual_seed(1)
    net = MobileViTBackbone(VisionConfig.preset("tiny", **SMALL_HF)).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics so that they must load too
        for name, buf in net.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buf.normal_(0.0, 0.2)
    return net


def test_hf_checkpoint_roundtrip(tmp_path):
    ref = _random_backbone()
    folder = _write_checkpoint(tmp_path / "mobilevit", ref)
    cfg = vision_config_from_hf(folder, base="tiny")
    assert cfg.neck_hidden_sizes == ref.config.neck_hidden_sizes and cfg.transformer_depths == (2, 4, 3)
    enc = build_stve_from_hf(folder, base="tiny")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(enc.backbone.eval()(x), ref(x))
    # our own saver writes the same layout back
    out = save_hf_mobilevit(enc.backbone, tmp_path / "resaved")
    saved = load_file(str(out / "model.safetensors"))
    assert "mobilevit.conv_stem.convolution.weight" in saved
    assert "mobilevit.encoder.layer.2.transformer.layer.1.attention.attention.query.weight" in saved
    again = SparseTemporalVisionEncoder(cfg)
    again.load_pretrained_backbone(out)
    assert_close(again.backbone.eval()(x), ref(x))


def test_mis_shaped_tensor_is_named(tmp_path):
    key = "mobilevit.encoder.layer.3.conv_kxk.convolution.weight"
    folder = _write_checkpoint(tmp_path / "bad", _random_backbone(), reshape=key)
    enc = SparseTemporalVisionEncoder(VisionConfig.preset("tiny", **SMALL_HF))
    with pytest.raises(ModelFileError, match=r"encoder\.layer\.3\.conv_kxk\.convolution\.weight.*\(3, 3\)"):
        enc.load_pretrained_backbone(folder)


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    drop = "encoder.layer.4.layernorm.bias"
    folder = _write_checkpoint(tmp_path / "bad", _random_backbone(), drop=(drop,),
                               extra={"mobilevit.encoder.layer.9.weight": torch.zeros(1)})
    enc = SparseTemporalVisionEncoder(VisionConfig.preset("tiny", **SMALL_HF))
    with pytest.raises(ModelFileError) as info:
        enc.load_pretrained_backbone(folder)
    assert drop in str(info.value) and "encoder.layer.9.weight" in str(info.value)


def test_wrong_architecture_and_missing_files(tmp_path):
    folder = _write_checkpoint(tmp_path / "ok", _random_backbone())
    enc = SparseTemporalVisionEncoder(VisionConfig.preset("tiny"))  # depths (1, 1, 1): does not fit
    with pytest.raises(ModelFileError, match="unexpected tensors"):
        enc.load_pretrained_backbone(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ModelFileError, match="pickled weights are refused"):
        enc.load_pretrained_backbone(empty)
    with pytest.raises(ModelFileError, match="config.json"):
        vision_config_from_hf(empty)
    (empty / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot read"):
        enc.load_pretrained_backbone(empty)


def test_matches_transformers_when_installed(tmp_path):
    """Output parity with Hugging Face's own MobileViT (skipped where transformers is absent)."""
    transformers = pytest.importorskip("transformers")
    hf_cfg = transformers.MobileViTConfig(hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 8, 16, 16, 16, 32],
                                          num_attention_heads=2, expand_ratio=2.0)
    torch.manual_seed(0)
    hf = transformers.MobileViTModel(hf_cfg).eval()
    with torch.no_grad():  # HF's init leaves near-zero outputs: perturb so the comparison bites
        for name, t in hf.state_dict().items():
            if t.is_floating_point():
                t.copy_(t.abs() + 0.5 if name.endswith("running_var") else t + 0.1 * torch.randn_like(t))
    hf.save_pretrained(tmp_path / "hf", safe_serialization=True)
    enc = build_stve_from_hf(tmp_path / "hf", base="tiny")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = hf(pixel_values=x).last_hidden_state
        assert expected.abs().mean() > 1e-2
        assert_close(enc.backbone.eval()(x), expected)


def test_backbone_exports_to_onnx_with_dynamic_tile_batch(tmp_path):
    """The backbone (channels-last weights included) traces to ONNX and matches ONNX Runtime."""
    ort = pytest.importorskip("onnxruntime")
    net = MobileViTBackbone(VisionConfig.preset("tiny")).eval()
    path = tmp_path / "backbone.onnx"
    with torch.no_grad():
        torch.onnx.export(net, (torch.rand(16, 3, 64, 64),), str(path), input_names=["pixels"],
                          output_names=["features"], dynamic_axes={"pixels": {0: "tiles"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = torch.rand(3, 3, 64, 64)  # a different number of changed tiles than at export time
    with torch.no_grad():
        expected = net(x).numpy()
    got = session.run(None, {"pixels": x.numpy()})[0]
    assert got.shape == expected.shape == (3, 32, 2, 2)
    assert abs(got - expected).max() < 1e-4
