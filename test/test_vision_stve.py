"""STVE behaviour: tile cache, sparse selection and budget, temporal pooling, STE training, bad input."""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from tristream_ros.errors import InputError
from tristream_ros.model.vision.config import VisionConfig
from tristream_ros.model.vision.importance import budget_loss, select_tokens, ste_keep_mask, token_budget
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder, VisionTokens
from tristream_ros.model.vision.temporal import TemporalPool, pool_frames

torch.set_num_threads(1)
TILE = 64  # px


def make_encoder(**overrides) -> SparseTemporalVisionEncoder:
    torch.manual_seed(0)
    return SparseTemporalVisionEncoder(VisionConfig.preset("tiny", **overrides)).eval()


def textured_scene(seed: int = 0, size: int = 256) -> np.ndarray:
    """Wood-grain-like texture with a few coloured objects (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    grain = 110 + 40 * np.sin(xx / 3.0 + 4 * np.sin(yy / 17.0)) + rng.normal(0, 12, (size, size))
    img = np.repeat(grain[..., None], 3, axis=2)
    img[..., 2] *= 0.7
    for colour, (cy, cx, r) in zip([(220, 30, 30), (30, 200, 40), (40, 60, 230)],
                                   [(60, 70, 25), (170, 180, 30), (200, 50, 20)]):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = colour
    img[20:50, 150:230] = (240, 220, 20)  # a yellow box
    return np.clip(img, 0, 255).astype(np.uint8)


def flat_scene(size: int = 256) -> np.ndarray:
    img = np.full((size, size, 3), 128, np.uint8)
    img[100:130, 100:130] = (200, 40, 40)
    return img


def test_shapes_and_positions():
    enc = make_encoder()
    out = enc.encode(textured_scene())
    d = enc.config.token_dim
    n = out.num_tokens
    assert isinstance(out, VisionTokens)
    assert out.features.shape == (n, d) and out.features.dtype == torch.float32
    assert out.rows.shape == out.cols.shape == out.importance.shape == (n,)
    assert out.rows.dtype == out.cols.dtype == torch.long
    assert out.grid_hw == (8, 8) and out.dense_tokens == 64
    assert out.tiles_reencoded == out.tiles_total == 16
    assert out.keep_ratio == pytest.approx(n / 64)
    assert bool(((out.rows >= 0) & (out.rows < 8) & (out.cols >= 0) & (out.cols < 8)).all())
    assert torch.equal(out.flat_index, torch.sort(out.flat_index).values)  # raster order
    uv = out.positions_uv()
    assert uv.shape == (n, 2) and bool(((uv > 0) & (uv < 1)).all())
    dense = enc.last_dense()
    assert dense.features.shape == (64, d) and dense.keep_ratio == 1.0
    assert_close(dense.features[out.flat_index], out.features)  # sparse tokens are a subset


def test_keep_ratio_on_textured_scene_and_adaptive_budget():
    enc = make_encoder()
    busy = enc.encode(textured_scene())
    assert busy.keep_ratio <= 0.27
    assert 1 <= busy.num_tokens <= 17 and busy.budget == 17
    enc.reset()
    calm = enc.encode(flat_scene())
    assert calm.complexity < busy.complexity
    assert calm.budget < busy.budget
    assert calm.num_tokens <= calm.budget


def test_all_black_frame_returns_min_tokens_without_nan():
    enc = make_encoder()
    out = enc.encode(np.zeros((256, 256, 3), np.uint8))
    assert out.complexity == 0.0 and out.budget == enc.config.min_tokens == 1
    assert out.num_tokens == 1
    assert bool(torch.isfinite(out.features).all()) and bool(torch.isfinite(out.importance).all())
    empty = make_encoder(min_tokens=0).encode(np.zeros((120, 160, 3), np.uint8))  # opt-in: zero tokens
    assert empty.num_tokens == 0 and empty.features.shape == (0, 32) and empty.keep_ratio == 0.0


def test_identical_frame_reencodes_nothing_and_gives_same_tokens():
    enc = make_encoder()
    frame = textured_scene()
    first = enc.encode(frame)
    second = enc.encode(frame.copy())
    assert second.tiles_reencoded == 0 and second.tiles_total == 16
    assert torch.equal(first.flat_index, second.flat_index)
    assert_close(second.features, first.features)
    assert_close(second.importance, first.importance)


def test_one_changed_tile_reencodes_exactly_one():
    enc = make_encoder(temporal_pool="last")
    frame = textured_scene()
    enc.encode(frame)
    before = enc.last_dense().features.clone()
    changed = frame.copy()
    r, c = 1, 2  # tile row / col
    changed[r * TILE + 10:r * TILE + 50, c * TILE + 10:c * TILE + 50] = (255, 0, 255)
    out = enc.encode(changed)
    assert out.tiles_reencoded == 1
    after = enc.last_dense().features
    cell = torch.zeros(8, 8, dtype=torch.bool)
    cell[2 * r:2 * r + 2, 2 * c:2 * c + 2] = True
    cell = cell.flatten()
    assert_close(after[~cell], before[~cell])
    assert not torch.allclose(after[cell], before[cell])
    # the cached result equals encoding the new frame from scratch
    fresh = make_encoder(temporal_pool="last")
    fresh.load_state_dict(enc.state_dict())
    assert_close(fresh.encode(changed, dense=True).features, after, atol=1e-5, rtol=1e-4)


def test_small_change_below_threshold_is_ignored():
    enc = make_encoder(change_threshold=2.0)
    frame = textured_scene()
    enc.encode(frame)
    noisy = frame.copy()
    noisy[0:4, 0:4] = 0  # 16 pixels of one tile: mean change well under 2 grey levels
    assert enc.encode(noisy).tiles_reencoded == 0


def test_sensor_noise_does_not_trigger_reencoding():
    frame = textured_scene()
    noise = np.random.default_rng(5).normal(0, 4, frame.shape)  # sigma = 4 grey levels
    noisy = np.clip(frame + noise, 0, 255).astype(np.uint8)
    enc = make_encoder()  # change_pool=4: noise averaged over 4x4 blocks
    enc.encode(frame)
    assert enc.encode(noisy).tiles_reencoded == 0
    raw = make_encoder(change_pool=1)  # per-pixel comparison sees the noise everywhere
    raw.encode(frame)
    assert raw.encode(noisy).tiles_reencoded == 16


def test_frames_of_any_size_and_sequences():
    enc = make_encoder()
    out = enc.encode(np.zeros((3, 480, 640, 3), np.uint8) + 40)
    assert out.tiles_total == 48 and out.tiles_reencoded == 16
    enc_crop = make_encoder(resize_mode="center_crop")
    out = enc_crop.encode([textured_scene(1, 300)[:, :200], textured_scene(2)])  # list, mixed sizes
    assert out.tiles_total == 32


def test_temporal_pooling():
    x = torch.arange(3, dtype=torch.float32).view(1, 3, 1, 1)  # frames 0, 1, 2
    assert pool_frames(x, "mean", 0.5).item() == pytest.approx(1.0)
    assert pool_frames(x, "last", 0.5).item() == pytest.approx(2.0)
    assert pool_frames(x, "ema", 0.5).item() == pytest.approx((0 * 0.25 + 1 * 0.5 + 2 * 1) / 1.75)
    pool = TemporalPool(window=2, mode="mean", decay=0.5)
    for v in (0.0, 10.0, 20.0):
        pooled = pool.push(torch.full((1, 1), v))
    assert len(pool) == 2 and pooled.item() == pytest.approx(15.0)


def test_budget_and_selection_rules():
    cfg = VisionConfig.preset("tiny")
    k = token_budget(torch.tensor([0.0, 0.1, 0.5, 1.0]), cfg)
    assert k.tolist() == [1, 2, 9, 17]
    scores = torch.linspace(0.0, 1.0, 64)
    idx = select_tokens(scores, 17, cfg)
    assert idx.numel() == 17 and bool((scores[idx] >= 0.5).all())
    low = torch.full((64,), 0.1)
    assert select_tokens(low, 17, cfg).numel() == 1  # nothing passes -> min_tokens


def test_forward_train_ste_gradients_reach_scorer():
    enc = make_encoder()
    enc.train()
    frames = torch.stack([torch.from_numpy(textured_scene(s)).permute(2, 0, 1).float() / 255 for s in (0, 1)])
    images = torch.stack([frames, frames.flip(0)])  # (B=2, T=2, 3, 256, 256)
    out = enc.forward_train(images)
    assert out.tokens.shape == (2, 64, enc.config.token_dim)
    assert out.scores.shape == out.keep_mask.shape == (2, 64)
    mask = out.keep_mask.detach()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask.sum(-1).tolist() == out.budget.tolist()
    loss = (out.tokens * out.keep_mask[..., None]).square().mean() + out.budget_loss()
    loss.backward()
    grads = [p.grad for p in enc.scorer.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert enc.backbone.conv_stem.convolution.weight.grad is not None


def test_ste_mask_and_budget_loss_units():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]], requires_grad=True)
    mask = ste_keep_mask(logits, torch.tensor([2]))
    assert mask.detach().tolist() == [[1.0, 0.0, 1.0, 0.0]]
    mask.sum().backward()
    s = torch.sigmoid(logits.detach())
    assert_close(logits.grad, s * (1 - s))
    assert budget_loss(torch.zeros(1, 4), torch.tensor([2])).item() == pytest.approx(0.0)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((256, 256, 3), np.float32), "float32"),
    (np.zeros((256, 256), np.uint8), "(256, 256)"),
    (np.zeros((256, 256, 4), np.uint8), "(256, 256, 4)"),
    (np.zeros((0, 256, 3), np.uint8), "(0, 256, 3)"),
    ([], "empty"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)], "frame 1"),
    ("not an image", "str"),
])
def test_bad_frames_raise_clear_errors(bad, words):
    enc = make_encoder()
    with pytest.raises(InputError) as info:
        enc.encode(bad)
    assert words in str(info.value)


def test_bad_training_images_raise():
    enc = make_encoder()
    with pytest.raises(InputError, match="uint8"):
        enc.forward_train(torch.zeros(1, 1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(InputError, match=r"\(1, 3, 64, 64\)"):
        enc.forward_train(torch.zeros(1, 3, 64, 64))
    with pytest.raises(InputError, match="NaN"):
        enc.forward_train(torch.full((1, 1, 3, 64, 64), float("nan")))
    with pytest.raises(InputError, match="no frame"):
        enc.last_dense()


def test_flop_estimates():
    enc = make_encoder()
    per_tile = enc.flops_per_tile()
    assert per_tile > 0
    assert enc.estimate_flops(0, with_scorer=False) == 0
    assert enc.estimate_flops(1) > per_tile
    # 16 tiles run the same convolutions as one dense 256 px pass, but each tile's attention spans
    # only its own patches (attention is quadratic in tokens), so tiling costs less, never more.
    tiled, dense = enc.estimate_flops(16, with_scorer=False), enc.dense_frame_flops()
    assert 0.5 * dense < tiled < dense


def test_project_scene_clips_keep_at_most_27_percent():
    """On the project's own rendered clips (data/scenes.py): budget and tile reuse."""
    scenes = pytest.importorskip("tristream_ros.data.scenes")
    enc = make_encoder()
    for seed in range(3):
        enc.reset()
        clip = scenes.render(seed).frames  # (T, H, W, 3) uint8
        out = enc.encode(clip)
        assert out.keep_ratio <= 0.27 and out.num_tokens >= 1
        assert out.tiles_total == 16 * len(clip) and 16 <= out.tiles_reencoded <= out.tiles_total
