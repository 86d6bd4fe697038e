"""TriStreamConfig presets, validation and JSON round trip."""
import json

import pytest

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.config import FusionConfig, TriStreamConfig


def test_presets_shapes_and_roundtrip():
    omni = TriStreamConfig.preset("omni-0.5b").fusion
    assert (omni.hidden_size, omni.num_layers, omni.num_heads, omni.num_kv_heads, omni.intermediate_size,
            omni.vocab_size, omni.tie_embeddings) == (896, 24, 14, 2, 4864, 151936, True)
    for name in ("tiny", "demo", "omni-0.5b"):
        cfg = TriStreamConfig.preset(name)
        assert cfg.speech.llm_dim == cfg.fusion.hidden_size
        again = TriStreamConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg
    assert TriStreamConfig.preset("demo", vocab_size=321).fusion.vocab_size == 321


def test_bad_values_name_the_field():
    with pytest.raises(InputError, match="num_kv_heads"):
        FusionConfig(num_heads=4, num_kv_heads=3)
    with pytest.raises(InputError, match="cross_attn_fraction"):
        FusionConfig(cross_attn_fraction=0.0)
    with pytest.raises(InputError, match="unknown model preset"):
        TriStreamConfig.preset("huge")
    data = TriStreamConfig.preset("tiny").to_dict()
    data["fusion"]["wings"] = 2
    with pytest.raises(ModelFileError, match="wings"):
        TriStreamConfig.from_dict(data)
    with pytest.raises(ModelFileError, match="format"):
        TriStreamConfig.from_dict({"name": "x"})
