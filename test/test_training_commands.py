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
