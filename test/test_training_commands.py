"""`tristream train` / `tristream eval`: clear errors on bad paths (no training here)."""
from tristream_ros.cli import main


def test_train_without_dataset_is_a_clear_error(tmp_path, capsys):
    rc = main(["train", "--phase", "2", "--config", "tiny", "--data", str(tmp_path / "none"),
               "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 2
    assert "generate dataset" in capsys.readouterr().err


def test_phase3_without_phase2_is_a_clear_error(tmp_path, capsys):
    rc = main(["train", "--phase", "3", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 2
    assert "phase2" in capsys.readouterr().err


def test_eval_with_missing_model_is_a_clear_error(tmp_path, capsys):
    rc = main(["eval", "--model", str(tmp_path / "nomodel"), "--data", str(tmp_path), "--json", "--real", "none"])
    assert rc == 2
    assert "nomodel" in capsys.readouterr().err


def test_ship_halves_weights_and_carries_the_calibrated_thresholds(tmp_path):
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from tristream_ros.training.ship import ship
    src = tmp_path / "run" / "out" / "phase3"
    src.mkdir(parents=True)
    for name in ("model.safetensors", "speech.safetensors"):
        save_file({"w": torch.ones(3, 2)}, str(src / name))
    (src / "config.json").write_text("{}")
    (src / "vocab.json").write_text("[]")
    (src / "ctc_grammar.json").write_text(json.dumps({"min_score": -0.4, "min_margin": 0.0, "min_lead": 0.8}))
    model = tmp_path / "model"
    recipe = ship(tmp_path / "run", model, seed=3, note="n")
    assert recipe["seed"] == 3 and recipe["note"] == "n"
    assert load_file(str(model / "model.safetensors"))["w"].dtype == torch.float16
    assert json.loads((model / "ctc_grammar.json").read_text())["min_lead"] == 0.8
    (src / "ctc_grammar.json").unlink()  # retrained without calibration: the old thresholds must go
    ship(tmp_path / "run", model, seed=3)
    assert not (model / "ctc_grammar.json").exists()
    # loss curves: the kind read-out step's count re-fit replaces phase 3's curve of the same name
    (src / "phase3_count_loss.png").write_bytes(b"phase 3")
    kind = tmp_path / "run" / "out" / "kind_readout"
    kind.mkdir()
    (kind / "phase3_count_loss.png").write_bytes(b"kind step")
    (kind / "phase3_kind_loss.png").write_bytes(b"kind step")
    ship(tmp_path / "run", model, seed=3)
    assert (model / "phase3_count_loss.png").read_bytes() == b"kind step" and (model / "phase3_kind_loss.png").is_file()
    # the colour read-out step's fit replaces phase 3's colour curve; both steps' summaries go to recipe.json
    (src / "phase3_colour_loss.png").write_bytes(b"phase 3")
    colour = tmp_path / "run" / "out" / "colour_readout"
    colour.mkdir()
    (colour / "phase3_colour_loss.png").write_bytes(b"colour step")
    (colour / "colour_readout.json").write_text(json.dumps({"colour_readout": {
        "heldout_before": {"object_tokens": 0.95}, "heldout_after": {"object_tokens": 0.94}, "banded_per_batch": 6,
        "final_loss": 0.1}, "seconds_total": 388.7}))
    recipe = ship(tmp_path / "run", model, seed=3)
    assert (model / "phase3_colour_loss.png").read_bytes() == b"colour step"
    assert recipe["readouts"] == {"colour_readout": {"seconds_total": 388.7, "colour_readout": {
        "heldout_before": {"object_tokens": 0.95}, "heldout_after": {"object_tokens": 0.94}, "banded_per_batch": 6}}}
