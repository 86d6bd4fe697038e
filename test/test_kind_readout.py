"""The kind read-out re-fit on shape only (training/kind_readout.py): the projection removes all
of what the colour branch adds to a token; a probe re-fitted through it names the kind of a
held-out colour/kind pair whose colour pixels had stood for another kind (the white band of
every cone: white balls read as cones), where the same fit without the projection does not;
the shipped model carries a projection made from its own colour branch; bad inputs are refused."""
import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.model.heads.copy_head import AttributeProbe
from tristream_ros.training.kind_readout import (ColourKindPrior, KindFitOptions, fit_kind_readout, kind_accuracy,
                                                 shape_projection)
from tristream_ros.training.scene_tokens import pool_tokens

DIM, CODE, GRID = 24, 4, (4, 4)  # token dim, colour-branch pooled features (2w), token grid
N_COLOURS, N_KINDS = 3, 2  # colours 1, 2, 3 = white; kinds 1 = cone, 2 = ball
WHITE, CONE, BALL = 3, 1, 2


class _Model(nn.Module):
    """What the re-fit touches: vision.colour.out (the colour branch's last 1x1 convolution) and
    copy_head.probe (the real attribute probe, with its kind projection)."""

    def __init__(self, shape_only=True):
        super().__init__()
        torch.manual_seed(3)
        self.vision = nn.Module()
        self.vision.colour = nn.Module()
        self.vision.colour.out = nn.Conv2d(CODE, DIM, 1)
        self.copy_head = nn.Module()
        self.copy_head.probe = AttributeProbe(DIM, N_COLOURS, N_KINDS, GRID, context_dim=8, kind_shape_only=shape_only)


def _tokens(model, n, pairs, seed):
    """n scenes of 16 tokens, a quarter objects of the given (colour, kind) pairs. A token is a
    weak shape vector of its kind + noise + what the colour branch adds for the colours in its
    cell: its own colour, and white too on every cone (the band)."""
    g = torch.Generator().manual_seed(seed)
    shape = torch.randn(N_KINDS + 1, DIM, generator=torch.Generator().manual_seed(7)) * 0.25
    codes = torch.randn(N_COLOURS + 1, CODE, generator=torch.Generator().manual_seed(8)) * 2.0  # 0 = background
    N = GRID[0] * GRID[1]
    obj = torch.rand(n, N, generator=g) < 0.25
    pick = torch.randint(0, len(pairs), (n, N), generator=g)
    colour = torch.where(obj, torch.tensor([c for c, _ in pairs])[pick], 0)
    kind = torch.where(obj, torch.tensor([k for _, k in pairs])[pick], 0)
    code = codes[colour] + (kind == CONE).unsqueeze(-1) * codes[WHITE]  # (n, N, CODE)
    out = model.vision.colour.out
    with torch.no_grad():
        colour_part = code @ out.weight[:, :, 0, 0].T + out.bias  # (n, N, DIM)
    feats = shape[kind] + 0.3 * torch.randn(n, N, DIM, generator=g) + colour_part
    return feats, colour, kind


TRAIN_PAIRS = [(1, CONE), (2, CONE), (WHITE, CONE), (1, BALL), (2, BALL)]  # no white ball in training
HELDOUT = [(WHITE, BALL)]


def _fit_without_projection(probe, feats, colour, kind, steps=600):
    """The same fit (kind classifier + context + the colour -> kind table), identity projection."""
    prior = ColourKindPrior(N_COLOURS, N_KINDS)
    params = list(probe.context.parameters()) + list(probe.kind.parameters()) + list(prior.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3)
    g = torch.Generator().manual_seed(1)
    n = feats.shape[0]
    rows, cols = torch.arange(16) // 4, torch.arange(16) % 4
    for _ in range(steps):
        idx = torch.randint(0, n, (32,), generator=g)
        _, k = probe(feats[idx], rows.expand(32, -1), cols.expand(32, -1))
        loss = F.cross_entropy((k + prior(colour[idx])).flatten(0, 1), kind[idx].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe


def test_projection_removes_the_colour_branch():
    out = nn.Conv2d(CODE, DIM, 1)
    p = shape_projection(out)
    added = torch.randn(50, CODE) @ out.weight[:, :, 0, 0].T.detach() + out.bias.detach()  # (50, DIM)
    assert torch.allclose(added @ p, torch.zeros_like(added), atol=1e-5)
    assert torch.allclose(p @ p, p, atol=1e-5)  # a projection
    assert abs(float(torch.trace(p)) - (DIM - CODE - 1)) < 1e-4  # keeps everything else
    with pytest.raises(InputError, match="nothing would be left"):
        shape_projection(nn.Conv2d(DIM, DIM, 1))


def test_shape_only_fit_names_the_held_out_pair(tmp_path):
    model = _Model()
    feats, colour, kind = _tokens(model, 900, TRAIN_PAIRS, seed=0)
    test_f, _, test_k = _tokens(model, 300, HELDOUT, seed=1)
    plain = _fit_without_projection(copy.deepcopy(model.copy_head.probe), feats, colour, kind)
    summary = fit_kind_readout(model, (feats, colour, kind), None, tmp_path,
                               KindFitOptions(steps=600, holdout=100), progress=False)
    shaped = kind_accuracy(model.copy_head.probe, test_f, test_k, GRID)["object_tokens"]
    without = kind_accuracy(plain, test_f, test_k, GRID)["object_tokens"]
    print("white balls, kind accuracy: without the projection", without, "shape only", shaped)
    assert shaped > 0.9 and without < 0.5
    # the kind logits no longer move with anything the colour branch adds
    probe = model.copy_head.probe
    rows, cols = torch.arange(16) // 4, torch.arange(16) % 4
    extra = torch.randn(5, 16, CODE) @ model.vision.colour.out.weight[:, :, 0, 0].T.detach()
    with torch.no_grad():
        _, k0 = probe(test_f[:5], rows.expand(5, -1), cols.expand(5, -1))
        _, k1 = probe(test_f[:5] + extra, rows.expand(5, -1), cols.expand(5, -1))
    assert torch.allclose(k0, k1, atol=1e-4)
    assert summary["heldout_after"]["dense"]["object_tokens"] > 0.9 and summary["scenes_fit"] == 800
    assert (tmp_path / "phase3_kind_loss.png").is_file()
    # unnamed-colour scenes (kind labels only) are taken too
    u_f, _, u_k = _tokens(model, 50, [(1, BALL), (2, CONE)], seed=2)
    again = _Model()
    budget = torch.rand(feats.shape[:2], generator=torch.Generator().manual_seed(4)) < 0.3  # a sparse budget
    s2 = fit_kind_readout(again, (feats, colour, kind), (u_f, u_k), tmp_path / "u",
                          KindFitOptions(steps=50, holdout=100, sparse_rate=0.5), progress=False,
                          masks=(budget, None))
    assert s2["unnamed_scenes"] == 50 and s2["heldout_after"]["sparse"]["n_object_tokens"] < \
        s2["heldout_after"]["dense"]["n_object_tokens"]


def test_bad_inputs(tmp_path):
    model = _Model()
    feats, colour, kind = _tokens(model, 20, TRAIN_PAIRS, seed=0)
    with pytest.raises(InputError, match="no kind projection"):
        fit_kind_readout(_Model(shape_only=False), (feats, colour, kind), None, tmp_path, progress=False)
    no_head = nn.Module()
    no_head.copy_head = None
    with pytest.raises(InputError, match="copy head"):
        fit_kind_readout(no_head, (feats, colour, kind), None, tmp_path, progress=False)
    with pytest.raises(InputError, match="do not match"):
        fit_kind_readout(model, (feats, colour[:, :3], kind), None, tmp_path, progress=False)
    with pytest.raises(InputError, match="holdout"):
        fit_kind_readout(model, (feats, colour, kind), None, tmp_path, KindFitOptions(steps=5, holdout=20),
                         progress=False)
    with pytest.raises(InputError, match="sparse_rate"):
        fit_kind_readout(model, (feats, colour, kind), None, tmp_path, KindFitOptions(steps=5, holdout=5,
                                                                                      sparse_rate=-0.1),
                         progress=False)


def test_shipped_model_reads_kind_through_its_own_colour_branch():
    from tristream_ros.data.dataset import bright_scene_spec
    from tristream_ros.model.checkpoint import load_checkpoint
    model = load_checkpoint("models/demo")
    assert model.config.copy.kind_shape_only
    p = model.copy_head.probe.kind_projection
    want = shape_projection(model.vision.colour.out)
    assert float((p - want).abs().max()) < 2e-3  # stored as float16
    # the pool tokens the re-fit reads: dense grids, the sparse budget's mask, the renderer's objects
    feats, masks, scenes = pool_tokens(model, "unnamed", 2, seed=0, processes=1, progress=False)
    n_tokens = model.config.vision_grid[0] * model.config.vision_grid[1]
    assert feats.shape == (2, n_tokens, model.config.vision_dim) and masks.shape == (2, n_tokens)
    assert 0 < masks.sum() < masks.size and all(s["objects"] for s in scenes)
    b_feats, _, b_scenes = pool_tokens(model, "bright", 2, seed=0, processes=1, progress=False)
    assert b_feats.shape == feats.shape and sorted(o["kind"] for o in b_scenes[0]["objects"]) == \
        sorted(o.kind for o in bright_scene_spec(0, 0, model.config.vision.image_size).objects)
    with pytest.raises(InputError, match="pool"):
        pool_tokens(model, "test", 2)
    assert np.isfinite(feats.astype(np.float32)).all()


def test_command_line_errors(tmp_path, capsys):
    from tristream_ros.training.kind_readout import main
    assert main(["--model", str(tmp_path / "nomodel"), "--run", str(tmp_path / "run")]) == 2
    assert "nomodel" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "m", "--run", "r", "--steps", "0"])
    with pytest.raises(SystemExit):
        main(["--model", "m", "--run", "r", "--sparse-rate", "1.5"])
    assert "--sparse-rate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "m", "--run", "r", "--banded-scenes", "-1"])
    assert "--banded-scenes" in capsys.readouterr().err


def test_refit_on_a_copy_of_the_shipped_model(tmp_path):
    """The whole step, tiny: pool tokens of the four pools, the fit, the folder rewritten."""
    import shutil
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.training.kind_readout import refit
    model_dir = tmp_path / "m"
    shutil.copytree("models/demo", model_dir)
    opts = KindFitOptions(steps=3, holdout=4, pool_scenes=12, unnamed_scenes=3, bright_scenes=4, banded_scenes=2)
    summary = refit(model_dir, tmp_path / "run", opts, count_steps=0, processes=1, progress=False)
    k = summary["kind_readout"]
    assert k["unnamed_scenes"] == 9 and k["scenes_fit"] == 8 and k["options"]["bright_scenes"] == 4
    assert (tmp_path / "run" / "kind_readout.json").is_file() and "count_readout" not in summary
    before = load_checkpoint("models/demo").copy_head.probe.kind.weight
    after = load_checkpoint(model_dir).copy_head.probe.kind.weight
    assert after.shape == before.shape and not torch.equal(after, before)
