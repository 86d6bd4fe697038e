"""The colour read-out re-fit of phase 3 (training/colour_readout.py): with the training-only
kind -> colour prior, a read-out fitted on scenes that never show some colour/kind pairs names
those pairs' colours better than the same read-out fitted without it; bad inputs are refused;
phase 3's data helper labels the cached scenes' tokens."""
import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.training.colour_readout import (ColourFitOptions, KindColourPrior, colour_accuracy,
                                                   fit_colour_readout)

N_COLOURS, N_KINDS, TOKENS = 3, 2, 16


class _Probe(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.colour = nn.Linear(dim, N_COLOURS + 1)
        self.kind = nn.Linear(dim, N_KINDS + 1)


class _Model(nn.Module):
    """Only what the re-fit touches: copy_head.probe.colour (and .kind for the class count)."""

    def __init__(self, dim):
        super().__init__()
        self.copy_head = nn.Module()
        self.copy_head.probe = _Probe(dim)


def _scenes(n, pairs, seed):
    """n scenes of TOKENS tokens: a quarter are objects of the given (colour, kind) pairs, the rest
    background. A token's features: its colour as a noisy one-hot (dims 0-2), its kind as a small
    one-hot with less noise (dims 3-4), object-or-not (dim 5): the kind is a usable hint when the
    colour is unclear, as in STVE tokens."""
    g = torch.Generator().manual_seed(seed)
    colour = torch.zeros(n, TOKENS, dtype=torch.long)
    kind = torch.zeros(n, TOKENS, dtype=torch.long)
    obj = torch.rand(n, TOKENS, generator=g) < 0.25
    pick = torch.randint(0, len(pairs), (n, TOKENS), generator=g)
    pc = torch.tensor([c for c, _ in pairs])[pick]
    pk = torch.tensor([k for _, k in pairs])[pick]
    colour[obj], kind[obj] = pc[obj], pk[obj]
    feats = torch.zeros(n, TOKENS, 6)
    feats[..., :N_COLOURS] = F.one_hot(colour.clamp_min(1) - 1, N_COLOURS) * (colour > 0).unsqueeze(-1)
    feats[..., :N_COLOURS] += 0.6 * torch.randn(n, TOKENS, N_COLOURS, generator=g)
    feats[..., 3:5] = 0.3 * F.one_hot(kind.clamp_min(1) - 1, N_KINDS) * (kind > 0).unsqueeze(-1)
    feats[..., 3:5] += 0.1 * torch.randn(n, TOKENS, N_KINDS, generator=g)
    feats[..., 5] = (kind > 0).float()
    return feats, colour, kind


TRAIN_PAIRS = [(1, 1), (2, 1), (2, 2), (3, 2)]  # kind 1 is never colour 3, kind 2 never colour 1
HELDOUT_PAIRS = [(3, 1), (1, 2)]


def _plain_fit(readout, feats, colour, steps, lr=3e-3):
    """The same read-out fitted without the prior (what joint training does)."""
    opt = torch.optim.AdamW(readout.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = torch.randint(0, feats.shape[0], (64,), generator=g)
        loss = F.cross_entropy(readout(feats[idx]).flatten(0, 1), colour[idx].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return readout


def test_the_prior_keeps_held_out_pairs_readable(tmp_path):
    torch.manual_seed(0)
    feats, colour, kind = _scenes(1200, TRAIN_PAIRS, seed=0)
    test_f, test_c, test_k = _scenes(400, HELDOUT_PAIRS, seed=1)
    model = _Model(6)
    plain = _plain_fit(copy.deepcopy(model.copy_head.probe.colour), feats, colour, 1500)
    summary = fit_colour_readout(model, feats, colour, kind, tmp_path, ColourFitOptions(steps=1500, holdout=200),
                                 progress=False)
    with_prior = colour_accuracy(model.copy_head.probe.colour, test_f, test_c, test_k)["object_tokens"]
    without = colour_accuracy(plain, test_f, test_c, test_k)["object_tokens"]
    print("held-out pairs, colour accuracy: plain fit", without, "with the prior", with_prior)
    assert with_prior > without + 0.1
    # training pairs (the held-out scenes of the fit) stay as readable, background stays background
    after = summary["heldout_after"]
    assert after["object_tokens"] >= summary["heldout_before"]["object_tokens"]
    assert after["background_tokens"] > 0.95 and summary["scenes_fit"] == 1000
    assert (tmp_path / "phase3_colour_loss.png").is_file()
    # resumable: a finished fit is restored, not redone
    again = _Model(6)
    fit_colour_readout(again, feats, colour, kind, tmp_path, ColourFitOptions(steps=1500, holdout=200), progress=False)
    assert torch.equal(again.copy_head.probe.colour.weight, model.copy_head.probe.colour.weight)


def test_prior_leaves_the_background_decision_alone():
    prior = KindColourPrior(N_KINDS, N_COLOURS)
    with torch.no_grad():
        prior.table.normal_()
    out = prior(torch.tensor([[0, 1, 2]]))
    assert out.shape == (1, 3, N_COLOURS + 1) and torch.all(out[..., 0] == 0)


def test_bad_inputs(tmp_path):
    feats, colour, kind = _scenes(20, TRAIN_PAIRS, seed=0)
    no_head = nn.Module()
    no_head.copy_head = None
    with pytest.raises(InputError, match="copy head"):
        fit_colour_readout(no_head, feats, colour, kind, tmp_path, progress=False)
    with pytest.raises(InputError, match="do not match"):
        fit_colour_readout(_Model(6), feats, colour[:, :3], kind, tmp_path, progress=False)
    with pytest.raises(InputError, match="holdout"):
        fit_colour_readout(_Model(6), feats, colour, kind, tmp_path, ColourFitOptions(steps=5, holdout=20),
                           progress=False)


def test_phase3_colour_data_labels_the_cached_tokens(tmp_path):
    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.training.phase3_preference import _colour_labels, _readout_fit_data
    cfg = TriStreamConfig.preset("demo")
    n, d = 64, 4
    size = cfg.vision.image_size
    ball = {"kind": "ball", "colour": "white", "bbox": [0, 0, size / 8, size / 8]}  # the top-left cell
    pink = {"kind": "cup", "colour": "pink", "bbox": [size - size / 8, 0, size, size / 8]}  # a colour no query names
    rows = [{"id": "a", "objects": [ball, pink]}]
    vision = {"ids": np.array(["a"]), "features": np.ones((1, n, d), np.float16), "sparse_mask": np.ones((1, n), bool)}
    feats, _, scenes = _readout_fit_data(rows, vision, tmp_path, 0, seed=0)
    colour, kind = _colour_labels(cfg, scenes, feats.shape[1])
    assert feats.shape == (1, n, d) and colour.shape == kind.shape == (1, n)
    assert colour[0, 0] == cfg.copy.colours.index("white") + 1 and kind[0, 0] == cfg.copy.kinds.index("ball") + 1
    assert colour[0, 7] == -100 and kind[0, 7] == cfg.copy.kinds.index("cup") + 1  # unnamed colour: unlabelled
    assert int((colour[0] == 0).sum()) == n - 2


def _banded(feats, colour, kind, band_kinds, g, strength=0.9):
    """Add a 'white band' to the objects of `band_kinds`: strength on the last colour's dim (the
    white of these toy tokens), as the cone's band adds white pixels to its tokens."""
    out = feats.clone()
    hit = torch.zeros_like(kind, dtype=torch.bool)
    for k in band_kinds:
        hit |= kind == k
    out[..., N_COLOURS - 1] += strength * hit.float() * (0.7 + 0.6 * torch.rand(kind.shape, generator=g))
    return out


def test_the_two_tone_pool_teaches_a_band_is_not_the_colour(tmp_path):
    """Toy version of the green cone (session 17): kind 2 always carries a white band (colour 3 is
    white) and is never colour 1 in training; the held-out pair (1, 2) is read "white". A fitted
    share of two-tone scenes (kind 1 objects with the band, labelled with their body colour)
    makes the band's white count for less."""
    g = torch.Generator().manual_seed(5)
    pairs = [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2)]  # colour 1 ("green") never on kind 2 ("cone")
    feats, colour, kind = _scenes(1200, pairs, seed=0)
    feats = _banded(feats, colour, kind, [2], g)
    b_feats, b_colour, b_kind = _scenes(400, [(1, 1), (2, 1)], seed=2)
    b_feats = _banded(b_feats, b_colour, b_kind, [1], g)
    test_f, test_c, test_k = _scenes(400, [(1, 2)], seed=3)
    test_f = _banded(test_f, test_c, test_k, [2], g)
    scores, train_pairs = {}, {}
    for name, banded in (("plain", None), ("two_tone", (b_feats, b_colour, b_kind))):
        torch.manual_seed(0)  # both fits start from the same read-out
        model = _Model(6)
        summary = fit_colour_readout(model, feats, colour, kind, tmp_path / name,
                                     ColourFitOptions(steps=1500, holdout=200, banded_share=0.25), progress=False,
                                     banded=banded)
        scores[name] = colour_accuracy(model.copy_head.probe.colour, test_f, test_c, test_k)["object_tokens"]
        assert summary["banded_scenes"] == (0 if banded is None else 400)
        train_pairs[name] = summary["heldout_after"]["object_tokens"]
    print("held-out banded pair, colour accuracy:", scores, "training pairs:", train_pairs)
    assert scores["two_tone"] > scores["plain"] + 0.1
    assert train_pairs["two_tone"] > train_pairs["plain"] - 0.03  # the training pairs stay as readable


def test_two_tone_inputs_are_checked(tmp_path):
    feats, colour, kind = _scenes(40, TRAIN_PAIRS, seed=0)
    with pytest.raises(InputError, match="banded_share"):
        fit_colour_readout(_Model(6), feats, colour, kind, tmp_path, ColourFitOptions(steps=5, holdout=10,
                                                                                   banded_share=1.0), progress=False)
    with pytest.raises(InputError, match="two-tone"):
        fit_colour_readout(_Model(6), feats, colour, kind, tmp_path, ColourFitOptions(steps=5, holdout=10),
                           progress=False, banded=(feats, colour[:, :3], kind))
    with pytest.raises(InputError, match="no scene-pool scene"):  # 0.995 x 64 rounds to the whole batch
        fit_colour_readout(_Model(6), feats, colour, kind, tmp_path, ColourFitOptions(steps=5, holdout=10,
                                                                                   banded_share=0.995),
                           progress=False, banded=(feats, colour, kind))


def test_refit_on_a_copy_of_the_shipped_model(tmp_path):
    """The whole step, tiny: scene-pool and two-tone tokens, the fit, the folder rewritten."""
    import json
    import shutil
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.training.colour_readout import main, refit
    model_dir = tmp_path / "m"
    shutil.copytree("models/demo", model_dir)
    opts = ColourFitOptions(steps=3, holdout=4, pool_scenes=12, banded_scenes=4)
    summary = refit(model_dir, tmp_path / "run", opts, processes=1, progress=False)
    c = summary["colour_readout"]
    assert c["banded_scenes"] == 4 and c["scenes_fit"] == 8 and c["options"]["banded_share"] == 0.05
    assert json.loads((tmp_path / "run" / "colour_readout.json").read_text())["colour_readout"]["scenes_fit"] == 8
    before = load_checkpoint("models/demo").copy_head.probe.colour.weight
    after = load_checkpoint(model_dir).copy_head.probe.colour.weight
    assert after.shape == before.shape and not torch.equal(after, before)
    with pytest.raises(SystemExit) as usage:  # the CLI refuses a share that leaves no scene-pool example
        main(["--model", str(model_dir), "--run", str(tmp_path / "run2"), "--banded-share", "1"])
    assert usage.value.code == 2
    # a missing model folder: the reason and exit 2, nothing written
    assert main(["--model", str(tmp_path / "none"), "--run", str(tmp_path / "run3")]) == 2
    assert not (tmp_path / "run3").exists()
    from safetensors import safe_open
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:  # the step's tag beside the earlier ones
        assert f.metadata()["colour_readout"] == "two_tone" and f.metadata()["phase"] == "3"
