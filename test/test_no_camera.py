"""A query about the scene with no camera (Query.vision None: none attached, or the fusion
node's frames are stale) is answered "i cannot see anything right now" with action none; the
speech expert, which never learnt scene questions, used to make up motions for them
("is there a cone" -> "backing up"). Speech commands are unaffected. Shipped model."""
import dataclasses

import pytest
from shipped_model import ask as _ask
from shipped_model import shipped  # noqa: F401  (fixture)

from tristream_ros.errors import InputError


@pytest.mark.parametrize("text", ["is there a cone", "go to the red ball", "what colour is the cup", "point at the ball"])
def test_scene_query_without_camera_is_declined(shipped, text):
    model, speech = shipped
    p = _ask(model, speech, text)
    assert p["action"] == "none" and p["text"] == model.config.cascade.no_camera_reply
    assert p["route"] in ("speech_vision", "trimodal") and p["vision_calls"] == 0


@pytest.mark.parametrize("text,action", [("turn right", "turn_right"), ("halt", "stop"),
                                         ("please back up a little", "backward")])
def test_speech_commands_without_camera_still_act(shipped, text, action):
    model, speech = shipped
    p = _ask(model, speech, text)
    assert p["action"] == action and p["route"] == "speech"


def test_reply_off_restores_the_speech_expert(shipped, monkeypatch):
    model, speech = shipped
    cascade = model.config.cascade
    monkeypatch.setattr(model.config, "cascade", dataclasses.replace(cascade, no_camera_reply=""))
    p = _ask(model, speech, "is there a cone")
    assert p["route"] == "speech" and p["text"] != cascade.no_camera_reply


def test_reply_must_be_text():
    from tristream_ros.model.config import CascadeConfig
    with pytest.raises(InputError, match="no_camera_reply"):
        CascadeConfig(no_camera_reply=3)
