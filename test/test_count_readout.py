"""The count read-out re-fit (training/count_readout.py) on a copy head whose attribute probe
reads kinds exactly: counts of separate and touching objects are learnt, only the read-out
changes, a finished fit resumes to the same weights, bad use is a clear error."""
import numpy as np
import pytest
import torch
from torch import nn

from tristream_ros.errors import InputError
from tristream_ros.model.heads.copy_head import AttributeCopyHead
from tristream_ros.training.count_readout import CountFitOptions, fit_count_readout, kind_grids

torch.set_num_threads(1)
C, K, GH, GW = 2, 2, 6, 6
D = K + 1  # token features: a one-hot of the token's kind (0 = background)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.copy_head = AttributeCopyHead(hidden=8, vision_dim=D, n_colours=C, n_kinds=K, grid_hw=(GH, GW),
                                           pointer_dim=8, count=True)
        with torch.no_grad():  # a probe that reads the kind off the feature, ignoring the context
            probe = self.copy_head.probe
            probe.kind.weight.zero_()
            probe.kind.weight[:, :D] = 20.0 * torch.eye(D)
            probe.kind.bias.zero_()


def _scenes(n: int, seed: int):
    """n scenes on the GH x GW grid: per kind 0..3 objects, each object 1 or 2 cells in a row
    (objects of one kind may touch)."""
    rng = np.random.default_rng(seed)
    feats = np.zeros((n, GH * GW, D), np.float32)
    feats[..., 0] = 1.0
    counts = np.zeros((n, K), np.int64)
    for s in range(n):
        free = list(rng.permutation(GH * GW))
        for k in range(K):
            counts[s, k] = rng.integers(0, 4)
            for _ in range(counts[s, k]):
                cell = int(free.pop())
                cells = [cell] + ([cell + 1] if cell % GW < GW - 1 and cell + 1 in free and rng.random() < 0.5 else [])
                for c in cells:
                    if c != cell:
                        free.remove(c)
                    feats[s, c] = 0.0
                    feats[s, c, 1 + k] = 1.0
    sparse = rng.random((n, GH * GW)) < 0.9
    sparse |= feats[..., 0] == 0  # the budget keeps every object cell here
    return feats, sparse, counts


def test_fit_learns_counts_and_changes_only_the_read_out(tmp_path):
    model = _Model()
    feats, sparse, counts = _scenes(500, 0)
    grid = kind_grids(model, torch.from_numpy(feats[:2]), torch.ones(2, GH * GW, dtype=torch.bool))
    assert grid.shape == (2, K + 1, GH, GW)
    assert float(grid[0, 1:].sum()) == pytest.approx((feats[0, :, 1:] > 0).sum(), abs=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opts = CountFitOptions(steps=600, batch=32, lr=1e-2, holdout=100)
    summary = fit_count_readout(model, feats, sparse, counts, tmp_path, opts, seed=0, progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("copy_head.count.") for k in changed)
    assert summary["scenes_fit"] == 400 and summary["heldout_after"]["dense"]["n_pairs"] == 200
    assert summary["heldout_after"]["dense"]["all"] >= 0.9
    assert summary["heldout_after"]["dense"]["all"] > summary["heldout_before"]["dense"]["all"] + 0.3
    assert summary["heldout_after"]["sparse"]["two_or_more"] >= 0.8
    assert (tmp_path / "phase3_count_loss.png").is_file()
    # a finished fit resumes to the same weights (no new steps)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    again = fit_count_readout(model, feats, sparse, counts, tmp_path, opts, seed=0, progress=False)
    assert again["steps"] == 600
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_fit_errors_are_clear(tmp_path):
    feats, sparse, counts = _scenes(20, 1)
    with pytest.raises(InputError, match="holdout"):
        fit_count_readout(_Model(), feats, sparse, counts, tmp_path, CountFitOptions(steps=5, holdout=50), progress=False)
    model = _Model()
    model.copy_head.count = None
    with pytest.raises(InputError, match="count read-out"):
        fit_count_readout(model, feats, sparse, counts, tmp_path, CountFitOptions(steps=5, holdout=5), progress=False)


def test_phase3_fit_data_joins_training_scenes_and_the_scene_pool(tmp_path):
    """Phase 3's inputs to the re-fit: the cached training samples (counts from their objects)
    plus phase 2's scene-pool cache of the same seed when it exists."""
    import json

    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.training.phase3_preference import _count_labels, _readout_fit_data

    def _count_fit_data(cfg, rows, vision, src, extra, seed):
        feats, masks, scenes = _readout_fit_data(rows, vision, src, extra, seed)
        return feats, masks, _count_labels(cfg, scenes)

    cfg = TriStreamConfig.preset("demo")
    n, d = 64, 4
    rows = [{"id": "b", "objects": [{"kind": "cone", "colour": "red"}, {"kind": "cone", "colour": "white"}]},
            {"id": "a", "objects": [{"kind": "ball", "colour": "red"}]}]
    vision = {"ids": np.array(["a", "b"]), "features": np.arange(2 * n * d, dtype=np.float16).reshape(2, n, d),
              "sparse_mask": np.zeros((2, n), bool)}
    feats, masks, counts = _count_fit_data(cfg, rows, vision, tmp_path, 5, seed=0)
    kinds = list(cfg.copy.kinds)
    assert feats.shape == (2, n, d) and masks.shape == (2, n)
    assert np.array_equal(feats[0], vision["features"][1])  # row "b" first, its own cached tokens
    assert counts[0, kinds.index("cone")] == 2 and counts[1, kinds.index("ball")] == 1
    np.savez(tmp_path / "vision_extra_s0_n5.npz", features=np.zeros((5, n, d), np.float16),
             sparse_mask=np.ones((5, n), bool), objects=np.array([json.dumps([{"kind": "cup", "colour": "red"}])] * 5))
    feats, masks, counts = _count_fit_data(cfg, rows, vision, tmp_path, 5, seed=0)
    assert feats.shape == (7, n, d) and int(counts[2:, kinds.index("cup")].sum()) == 5
    assert _count_fit_data(cfg, rows, vision, tmp_path, 5, seed=1)[0].shape[0] == 2  # another seed's pool: not there
