"""Helpers for the node / end-to-end tests of the assistant graph (issue 5).

- ``make_checkpoint(folder)``: an untrained checkpoint (tiny preset by default) plus
  ``speech.safetensors``. ``talkative=True`` edits the tied word embeddings so that every answer
  is a run of real words ("left"/"stop"), which gives the TTS something to say (barge-in tests)
  without a trained model.
- ``DEMO_MODEL``: the shipped checkpoint (models/demo) or None while it does not exist.
- ``demo_bag()``: the generated demo bag (seed 0), written once per session.
"""
from __future__ import annotations

import dataclasses

import tempfile
from pathlib import Path

from ros_helpers import REPO

DEMO_MODEL_DIR = REPO / "models" / "demo"
DEMO_MODEL = DEMO_MODEL_DIR if (DEMO_MODEL_DIR / "model.safetensors").is_file() else None
_BAG_DIR = Path(tempfile.gettempdir()) / "tristream_test_demo_bag_seed0"


def make_checkpoint(folder: str | Path, preset: str = "tiny", talkative: bool = False, seed: int = 0) -> Path:
    import torch
    from safetensors.torch import save_file

    from tristream_ros.data.language import all_sentences
    from tristream_ros.model.checkpoint import save_checkpoint
    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.model.speech.speech_model import SpeechModel
    from tristream_ros.model.text_tokenizer import TextTokenizer
    from tristream_ros.model.tristream_model import TriStreamModel

    torch.manual_seed(seed)
    tok = TextTokenizer.build(all_sentences())
    cfg = TriStreamConfig.preset(preset, vocab_size=len(tok))
    # an untrained router cannot tell scene queries from commands: no "i cannot see" reply for
    # these stand-ins (they test the plumbing; the shipped model's reply is test_no_camera.py's)
    cfg.cascade = dataclasses.replace(cfg.cascade, no_camera_reply="")
    model = TriStreamModel(cfg, tok).eval()
    if talkative:
        with torch.no_grad():
            dec = model.decoder
            j = 0  # one hidden dimension decides between two words, whatever its sign
            dec.norm.weight.zero_()
            dec.norm.weight[j] = 1.0
            dec.embed_tokens.weight[:, j] = 0.0
            dec.embed_tokens.weight[tok.token_to_id("left"), j] = 10.0
            dec.embed_tokens.weight[tok.token_to_id("stop"), j] = -10.0
    folder = Path(folder)
    save_checkpoint(model, folder, tok)
    speech = SpeechModel(cfg.speech)
    save_file({k: v.contiguous() for k, v in speech.state_dict().items()}, str(folder / "speech.safetensors"))
    return folder


def demo_bag() -> tuple[Path, dict]:
    """(bag path, ground truth) of the demo bag, generated on first use."""
    import json

    from tristream_ros.data.demo_bag import write_demo_bag

    truth = _BAG_DIR / "ground_truth.json"
    if not truth.is_file():
        write_demo_bag(_BAG_DIR, seed=0, overwrite=True)
    return _BAG_DIR / "bag", json.loads(truth.read_text())
