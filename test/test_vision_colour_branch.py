"""Shape / colour factorisation of STVE tokens (model/vision/colour_branch.py)."""
import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.vision.colour_branch import ColourBranch, to_luma
from tristream_ros.model.vision.config import VisionConfig
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder

torch.set_num_threads(1)


def _factorised(**kw) -> VisionConfig:
    return VisionConfig.preset("tiny", backbone_input="luma", colour_features=8, channels_last=False, **kw)


def test_colour_branch_cannot_see_shape():
    """Two cells holding the same pixels in a different arrangement (a disc vs a bar of the same
    area and colour) give the same colour features: per-pixel maps pooled over whole cells."""
    torch.manual_seed(0)
    branch = ColourBranch(_factorised()).eval()
    a = torch.full((1, 3, 32, 32), 0.5)
    b = a.clone()
    red = torch.tensor([0.8, 0.1, 0.1]).view(3, 1, 1)
    a[0, :, 8:16, 8:16] = red  # a 8x8 square (2x2 pooled pixels)
    b[0, :, 0:4, 0:16] = red  # a 4x16 bar, same pooled pixel count
    with torch.no_grad():
        fa, fb = branch(a), branch(b)
    assert fa.shape == (1, 32, 1, 1)
    assert torch.allclose(fa, fb, atol=1e-5)
    blue = a.clone()
    blue[0, :, 8:16, 8:16] = torch.tensor([0.1, 0.2, 0.8]).view(3, 1, 1)
    with torch.no_grad():
        assert not torch.allclose(branch(blue), fa, atol=1e-3)  # but it sees the colour


def test_luma_backbone_is_blind_to_hue():
    """With backbone_input="luma" and no colour branch, two tiles of equal luminance and
    different hue give identical tokens: kind cannot be read from hue."""
    torch.manual_seed(0)
    stve = SparseTemporalVisionEncoder(VisionConfig.preset("tiny", backbone_input="luma", colour_features=0, channels_last=False)).eval()
    x = torch.rand(1, 3, 64, 64) * 255
    y = to_luma(x / 255) * 255  # the same luminance, no hue at all
    with torch.no_grad():
        assert torch.allclose(stve.encode_tiles(x), stve.encode_tiles(y), atol=1e-4)


def test_factorised_encoder_streams_and_counts_the_branch():
    torch.manual_seed(0)
    plain = SparseTemporalVisionEncoder(VisionConfig.preset("tiny", colour_features=0, channels_last=False))
    stve = SparseTemporalVisionEncoder(_factorised())
    assert stve.flops_per_tile() > plain.flops_per_tile()  # the branch is in the cost accounting
    frame = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    tok = stve.encode(frame)
    assert 1 <= tok.num_tokens <= stve.config.max_tokens and torch.isfinite(tok.features).all()
    out = stve.forward_train(torch.rand(2, 2, 3, 128, 128))
    out.tokens.sum().backward()
    assert stve.colour.pixel[0].weight.grad.abs().sum() > 0


def test_bad_factorisation_settings_are_named():
    with pytest.raises(InputError, match="backbone_input"):
        VisionConfig(backbone_input="hsv")
    with pytest.raises(InputError, match="colour_features"):
        VisionConfig(colour_features=-1)
