"""Dialogue rules the model's answers rely on, shared by the fusion node and the evaluations.

A follow-up ("go to it", "what colour is that one", "go over there") points back at the previous
turn; the model was trained with that turn as context (context present = follow-up), so the node
passes it only then (``refers_back``). With no previous turn there is nothing to point at: the
model, never trained on that case, guessed (on real speech heard as "go to it" with no context it
backed up: 12 of 355 real out-of-domain recordings, session 20), so the model answers
``cascade.no_referent_reply`` with no action instead (TriStreamModel.answer).
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")


def refers_back(text: str) -> bool:
    """Does the query point back at the previous turn ("go to it", "look at that one", "go over
    there")? "there" counts after go/over/me only ("how many balls are there" and "stop right
    there" are not follow-ups), and "it" not after "stop" ("stop it", a short form). Exactly the
    follow-up intents' phrasings of data/language.py (tested)."""
    words = _WORD.findall(text.lower())
    for i, w in enumerate(words):
        prev = words[i - 1] if i else ""
        if (w in ("it", "its") and prev != "stop") or (w == "one" and prev == "that") or \
                (w == "there" and prev in ("go", "over", "me")):
            return True
    return False
