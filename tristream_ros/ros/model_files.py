"""Where the nodes find the model: ``model.path`` resolution and partial weight loading.

``model.path`` may be absolute, relative to the working directory, or relative to the package
root (so the default ``models/demo`` works from any directory in a source checkout). The
checkpoint folder is the one ``tristream_ros.model.checkpoint`` writes (model.safetensors,
config.json, vocab.json); the speech tokenizer additionally reads ``speech.safetensors``
(a ``SpeechModel`` state dict whose sizes are config.json's ``speech`` section).
No rclpy here.
"""
from __future__ import annotations

from pathlib import Path

from tristream_ros.errors import ModelFileError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the source checkout (holds models/, config/)
DEFAULT_MODEL_PATH = "models/demo"
SPEECH_WEIGHTS_FILE = "speech.safetensors"


def resolve_model_path(path: str) -> Path:
    """``path`` as given if it exists, else relative to the package root; ModelFileError naming
    every place looked at when neither is a folder."""
    if not path:
        raise ModelFileError("model.path is empty; set it to a checkpoint folder (e.g. models/demo)")
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, PACKAGE_ROOT / p]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise ModelFileError(f"model folder {path!r} not found (looked in {', '.join(str(c) for c in candidates)})")


def load_vision_encoder(folder: Path):
    """Only the STVE part of a TriStream checkpoint -> (SparseTemporalVisionEncoder, TriStreamConfig)."""
    from tristream_ros.model.checkpoint import MODEL_FILE, check_state, load_config, read_tensors
    from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder

    config = load_config(folder)
    encoder = SparseTemporalVisionEncoder(config.vision)
    found = {k[len("vision."):]: v for k, v in read_tensors(folder / MODEL_FILE).items() if k.startswith("vision.")}
    expected = encoder.state_dict()
    check_state(expected, found, f"{folder / MODEL_FILE} (vision.*)")
    encoder.load_state_dict({k: found[k].to(expected[k].dtype) for k in expected}, strict=True)
    return encoder.eval(), config


def load_speech_model(folder: Path, weights_file: str = SPEECH_WEIGHTS_FILE):
    """The SpeechModel (streaming encoder + CTC + adapter) saved beside a TriStream checkpoint;
    None when ``weights_file`` is absent. Sizes come from config.json's ``speech`` section."""
    from tristream_ros.model.checkpoint import check_state, load_config, read_tensors
    from tristream_ros.model.speech.speech_model import SpeechModel

    path = folder / weights_file
    if not path.is_file():
        return None
    config = load_config(folder)
    model = SpeechModel(config.speech)
    found = read_tensors(path)
    expected = model.state_dict()
    check_state(expected, found, str(path))
    model.load_state_dict({k: found[k].to(expected[k].dtype) for k in expected}, strict=True)
    return model.eval()
