"""The shipped demo model for tests that run it: its folder, a module-scoped fixture loading it
(import `shipped` into the test module), and one query through it as the evaluation runs it."""
from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"


@pytest.fixture(scope="module")
def shipped():
    """(TriStreamModel, SpeechModel) of models/demo."""
    from tristream_ros.training.ship import load_shipped
    return load_shipped(MODEL)


def ask(model, speech, text, frames=None, context=None, camera=False) -> dict:
    """`text` with its respoken speech tokens through training.evaluate.run_query (sparse vision)."""
    from tristream_ros.model.speech.respoken import RespokenTokens
    from tristream_ros.training.evaluate import run_query
    return run_query(model, text, RespokenTokens(speech)(text), frames, context, dense=False, camera=camera)
