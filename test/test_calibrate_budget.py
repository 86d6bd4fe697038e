"""STVE budget calibration (training/calibrate_budget.py): the cheapest budget within tolerance
of all tokens is chosen; a real sweep over a tiny checkpoint and generated val samples writes the
choice into config.json (the model then loads with it) plus the sweep JSON / PNG."""
import json

import pytest

from graph_helpers import make_checkpoint
from tristream_ros.training.calibrate_budget import CALIBRATION_FILE, choose, main


def _c(alpha, thr, keep, exact):
    return {"budget_alpha": alpha, "score_threshold": thr, "keep_ratio": keep, "answer_exact_match": exact}


def test_choose_takes_the_cheapest_budget_within_tolerance():
    sweep = [_c(0.27, 0.5, 0.10, 0.70), _c(0.4, 0.5, 0.12, 0.718), _c(0.5, 0.3, 0.14, 0.73)]
    assert choose(sweep, 0.72, 0.005)["budget_alpha"] == 0.4
    assert choose(sweep, 0.72, 0.03)["budget_alpha"] == 0.27
    assert choose(sweep, 0.80, 0.005)["budget_alpha"] == 0.5  # none within: the one that loses least
    tie = sweep + [_c(0.6, 0.3, 0.15, 0.73)]
    assert choose(tie, 0.80, 0.005)["budget_alpha"] == 0.5  # ... and of equals the cheapest


def test_sweep_on_generated_val_writes_the_choice(tmp_path):
    from tristream_ros.data import dataset as D
    from tristream_ros.model.checkpoint import load_checkpoint

    model = make_checkpoint(tmp_path / "model")
    D.generate_dataset(tmp_path / "data", {"val": 6}, D.GeneratorConfig(seed=4), cache_dir=tmp_path / "espeak",
                       processes=1, progress=False)
    rc = main(["--model", str(model), "--data", str(tmp_path / "data"), "--write", "--no-progress",
               "--out", str(tmp_path / "calib.json")])
    assert rc == 0
    res = json.loads((tmp_path / "calib.json").read_text())
    assert len(res["sweep"]) == 6 and res["samples_with_vision"] >= 1
    keeps = [c["keep_ratio"] for c in res["sweep"]]
    assert all(0.0 < k <= res["max_keep_ratio"] for k in keeps)
    assert keeps[-1] >= keeps[0]  # a larger budget never keeps fewer tokens
    cfg = load_checkpoint(model).config.vision
    assert (cfg.budget_alpha, cfg.score_threshold) == (res["chosen"]["budget_alpha"], res["chosen"]["score_threshold"])
    assert json.loads((model / CALIBRATION_FILE).read_text())["chosen"] == res["chosen"]
    assert (model / "budget_calibration.png").stat().st_size > 1000


def test_missing_model_or_empty_val_is_a_clear_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope"), "--data", str(tmp_path), "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err
