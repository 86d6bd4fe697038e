"""Words people wrap around a command: "robot, stop", "okay turn left", "go back please".

The speech front end's grammar holds the sentences the model was trained on ("stop", "turn
left", "go back") and a closed grammar turns any speech into one of them: "robot stop" had no
sentence of its own, and pocketsphinx and our CTC heard it as "go back", "move back" or "back
up" (the robot backed up) for seven of the ten engine voices measured in session 27
(docs/training.md "Command wrappers").
People address a robot, add "please" and "okay", and ask "can you ...".

So the front end (on by default since session 28: COMMAND_WRAPPERS_DEFAULT) runs a second
pocketsphinx decoder beside the plain grammar's: the same sentences, with an optional *prefix*
and an optional *suffix* (one each, from the lists below) allowed at a strong penalty (JSGF
weight WRAPPER_WEIGHT against none). The plain decoder decides as before unless the wrapper
decoder hears a wrapper, its text aligns at least as well as the plain decoder's
(WRAPPER_MIN_ALIGN_LEAD) and, in the hybrid, our CTC does not explain the whole utterance with a
bare sentence (its best at the override's min_score or better: the voices it was trained on,
where false wrappers came from). Then the hybrid's CTC scores only the frames of the command
inside (the wrapper decoder's word timing: our CTC never learnt the wrapper words), pocketsphinx
aligns each candidate inside the same wrapper words for the rescoring, the out-of-domain
rejection reads the command's own audio (the span inside the wrapper words: its thresholds were
calibrated on bare sentences, and real speech outside the grammar hid its worst words in a
wrapper), and the model gets the sentence inside (`CommandWrappers.split`): "robot stop" -> "stop",
"can you turn left" -> "turn left", "please go back now" -> "go back". A text that is itself a
sentence of the grammar is never split ("please turn left", "move forward now" are trained
sentences). The words carry no meaning the model needs: every wrapper here is politeness,
address or a request frame. Wrappers not in these lists ("hey there", "uh") are not heard.

Why two decoders (session 27, pocketsphinx alone): one grammar with the wrappers in it heard
wrappers in unwrapped speech ("please look at the box" -> "please look at it robot") and lost
paths the plain grammar keeps; exact on 200 val utterances 105 -> 87-98 and on the 100 spliced
real-voice commands 76 -> 68-76 (weights 1 .. 1e-30), while the plain grammar heard 23 of 80
wrapped commands of Pico / flite / Festival voices and the wrapper grammar 76. Two decoders,
the wrapper one at 1e-30: 102, 76 and 76. The second decoder costs a second pocketsphinx search
while the user speaks.

No ROS; used by `pocketsphinx_frontend.DomainVocabulary` (the wrapper decoder's JSGF grammar) and
`tokenizer.PocketsphinxSpeechTokenizer` / `HybridSpeechTokenizer` (the second decoder, scoring
the wrapped sentences, forwarding the inner one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet

from tristream_ros.errors import InputError

# One optional word group before a command and one after it (lower case, words of cmudict-en-us).
PREFIXES: tuple[str, ...] = ("robot", "hey robot", "okay", "okay robot", "robot please", "please",
                             "can you", "could you", "would you")
SUFFIXES: tuple[str, ...] = ("please", "now", "robot", "thanks", "thank you")
# JSGF weight of a wrapper against none in the wrapper decoder's grammar (probability-like; a
# strong penalty). Session 27, pocketsphinx's two decoders alone (the wrapper decoder's text
# only when it hears a wrapper) on 200 val utterances, 100 spliced real-voice commands and 80
# wrapped commands of ten Pico / flite / Festival voices: weight 1: 90, 68, 76 right; 1e-4: 92,
# 70, 76; 1e-12: 97, 76, 76; 1e-30: 102, 76, 76; the plain decoder alone: 105, 76, 23.
WRAPPER_WEIGHT = 1e-30
# The wrapper decoder's text is taken only when pocketsphinx's forced alignment of it on the
# utterance's audio is at least this much better than the plain decoder's sentence's (ln of the
# path score per frame; a plain decoder that heard nothing is not compared), and, in the hybrid,
# when our CTC does not explain the whole utterance with a bare sentence (its best scores under
# the override's min_score per frame: HybridSpeechTokenizer._choose). The wrapper decoder, at any
# weight, sometimes hears a wrapper that is not there, mostly in the espeak-like voices our CTC
# knows ("please rotate to the left" -> "please freeze", session 28). Chosen in session 28
# (docs/real_speech/experiments/wrapper_check_session28) on 200 val utterances, 80 wrapped
# Pico / flite / Festival commands and 18 natural commands x 10 engine voices ("robot stop"):
# leads above 0 cost the short commands ("robot stop" by flite slt: 5.3e-4) what they won on val.
# None in `CommandWrappers.min_align_lead` turns the alignment check off.
WRAPPER_MIN_ALIGN_LEAD = 0.0
# whether the speech front end listens for the wrappers unless told otherwise (node parameter
# speech.command_wrappers, configured_frontend, build_frontend, tristream eval); session 28
COMMAND_WRAPPERS_DEFAULT = True


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


@dataclass(frozen=True)
class CommandWrappers:
    """Optional prefix / suffix word groups around the grammar's sentences."""

    prefixes: tuple[str, ...] = PREFIXES
    suffixes: tuple[str, ...] = SUFFIXES
    weight: float = WRAPPER_WEIGHT
    # sentences heard only bare, never inside a wrapper: the front end passes the short forms
    # ("left", "right", "forward", "help": data/language.SHORT_FORMS). Short real words outside
    # the grammar land on them easily, and with a wrapper around them ("now right", "right now")
    # 3 of 355 real out-of-domain recordings turned the robot (session 27)
    bare_only: frozenset[str] = frozenset()
    # the alignment check on the wrapper decoder's text (WRAPPER_MIN_ALIGN_LEAD; None: off)
    min_align_lead: float | None = WRAPPER_MIN_ALIGN_LEAD

    def __post_init__(self) -> None:
        if not 0.0 < float(self.weight) <= 1.0:
            raise InputError(f"command wrapper weight must be in (0, 1], got {self.weight!r}")
        object.__setattr__(self, "prefixes", tuple(" ".join(_words(p)) for p in self.prefixes))
        object.__setattr__(self, "suffixes", tuple(" ".join(_words(s)) for s in self.suffixes))
        object.__setattr__(self, "bare_only", frozenset(" ".join(_words(s)) for s in self.bare_only))
        if any(not w for w in (*self.prefixes, *self.suffixes)):
            raise InputError("command wrappers must be non-empty word groups")

    @property
    def words(self) -> list[str]:
        return sorted({w for g in (*self.prefixes, *self.suffixes) for w in g.split()})

    def jsgf_rules(self) -> tuple[str, str]:
        """(prefix rule body, suffix rule body) for a JSGF grammar, e.g. "robot | hey robot"."""
        return " | ".join(self.prefixes), " | ".join(self.suffixes)

    def wrappable(self, sentences) -> list[str]:
        """The sentences that may be heard inside a wrapper (all but `bare_only`), in order."""
        return [s for s in sentences if " ".join(_words(s)) not in self.bare_only]

    def split(self, text: str, sentences: AbstractSet[str]) -> tuple[str, str, str] | None:
        """(prefix, sentence, suffix) of `text` (normalised words joined by single spaces), with
        `sentence` one of `sentences` (and, when wrapped, not one of `bare_only`); "" for a part
        not there. A text that is one of `sentences` comes back whole; among several splits the
        one with the longest sentence wins (fewest words taken as wrapper). None: no split leaves
        a sentence of the grammar."""
        words = _words(text)
        joined = " ".join(words)
        if joined in sentences:
            return "", joined, ""
        best, best_len = None, 0
        for pre in ("", *self.prefixes):
            pw = _words(pre)
            if words[:len(pw)] != pw:
                continue
            for suf in ("", *self.suffixes):
                sw = _words(suf)
                if sw and words[len(words) - len(sw):] != sw:
                    continue
                inner = words[len(pw):len(words) - len(sw)]
                joined_inner = " ".join(inner)
                if len(inner) > best_len and joined_inner in sentences and joined_inner not in self.bare_only:
                    best, best_len = (pre, joined_inner, suf), len(inner)
        return best

    def inner(self, text: str, sentences: AbstractSet[str]) -> str:
        """The sentence inside `text` (`split`), or `text` unchanged when it does not split."""
        parts = self.split(text, sentences)
        return parts[1] if parts is not None else text


def wrap(prefix: str, sentence: str, suffix: str) -> str:
    """`sentence` with its wrapper words around it (empty parts left out)."""
    return " ".join(p for p in (prefix, sentence, suffix) if p)
