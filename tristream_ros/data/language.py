"""Questions and commands about a scene, with answers, action labels and the route they need.

Every query is generated from a template with slots (``{desc}`` "red ball" or "ball",
``{a_desc}`` "a red ball" / "an orange cup", ``{kind}``, ``{kinds}``, ``{where}`` "on the left").
Each intent has *train* templates and *held-out* templates; the held-out ones recombine words
the train ones use (checked by a test), so a model can be tested on phrasings it never saw
without meeting unknown words.

All text is lower case, words separated by single spaces, characters from ``a-z``, space and
apostrophe only: the CTC character vocabulary of the speech path.

Routes (cheapest first, see docs/design.md):
- ``speech``: spoken command that needs no scene (stop, turn left, what can you do).
- ``speech_vision``: spoken question / command about the scene.
- ``trimodal``: spoken follow-up that needs the previous turn (``context``) plus the scene.
- ``vision``: typed query about the scene (no speech), with or without a text context.
These labels name the inputs a query needs. The expert that answers a follow-up depends on
which experts read the previous turn (``FusionConfig.context_routes``):
``training.phase2_alignment.needed_route`` maps the label to the cheapest sufficient expert.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError
from .scenes import COLOURS, KINDS, REGIONS, ObjectTruth, object_counts

ROUTES: tuple[str, ...] = ("speech", "vision", "speech_vision", "trimodal")
ACTIONS: tuple[str, ...] = ("stop", "forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at", "none")
TARGET_ACTIONS = frozenset({"navigate_to", "look_at"})  # actions that carry target_uv
CONTEXT_SEP = "<sep>"  # joins previous query and answer in `context` (TextTokenizer special <sep>=4)
PHRASINGS = ("train", "heldout")

WHERE: dict[str, str] = {"left": "on the left", "centre": "in the middle", "right": "on the right"}
NUMBER_WORDS = ("no", "one", "two", "three")
PLURALS: dict[str, str] = {"ball": "balls", "box": "boxes", "cup": "cups", "cone": "cones", "bottle": "bottles"}


# ----------------------------------------------------------------------------- templates
# intent -> (train templates, held-out templates). Held-out ones only use words seen in train.

SPEECH_INTENTS: dict[str, tuple[list[str], list[str]]] = {
    "stop": (
        ["stop", "stop now", "please stop", "stop moving", "stop right there", "halt",
         "stay where you are", "don't move", "stop the robot", "freeze"],
        ["please stop moving", "stop right now", "halt now"],
    ),
    "turn_left": (
        ["turn left", "turn to the left", "rotate left", "please turn left", "turn left please",
         "rotate to your left", "face left", "turn to your left now"],
        ["please rotate to the left", "turn left now"],
    ),
    "turn_right": (
        ["turn right", "turn to the right", "rotate right", "please turn right", "turn right please",
         "rotate to your right", "face right", "turn to your right now"],
        ["please rotate to the right", "turn right now"],
    ),
    "forward": (
        ["go forward", "move forward", "go straight ahead", "drive forward", "move ahead",
         "go straight", "forward please", "keep going forward"],
        ["please drive straight ahead", "move forward now"],
    ),
    "backward": (
        ["back up", "go back", "move backward", "reverse", "back off a little", "move back",
         "drive backward", "go backwards"],
        ["please back up a little", "drive back now"],
    ),
    "capabilities": (
        ["what can you do", "what are you able to do", "how can you help me", "what do you do",
         "tell me what you can do", "what are your skills", "help me"],
        ["what can you help me do", "tell me your skills"],
    ),
}

SCENE_INTENTS: dict[str, tuple[list[str], list[str]]] = {
    "describe": (
        ["what do you see", "describe the scene", "what is in front of you", "what can you see",
         "tell me what you see", "what objects are there", "describe what you see"],
        ["what objects can you see", "describe what is in front of you"],
    ),
    "what_in_region": (
        ["what is {where}", "what do you see {where}", "what's {where}", "which object is {where}",
         "tell me what is {where}", "what object do you see {where}"],
        ["what can you see {where}", "which object do you see {where}"],
    ),
    "colour_of": (
        ["what colour is the {kind}", "which colour is the {kind}", "what colour does the {kind} have",
         "tell me the colour of the {kind}", "what is the colour of the {kind}"],
        ["which colour does the {kind} have", "tell me what colour the {kind} is"],
    ),
    "count": (
        ["how many {kinds} are there", "how many {kinds} do you see", "how many {kinds} can you see",
         "count the {kinds}", "what is the number of {kinds}", "tell me how many {kinds} there are"],
        ["how many {kinds} are in front of you", "count the {kinds} you see"],
    ),
    "exists": (
        ["is there {a_desc}", "do you see {a_desc}", "can you see {a_desc}", "is there {a_desc} here",
         "do you have {a_desc} in front of you"],
        ["can you see {a_desc} here", "is there {a_desc} in front of you"],
    ),
    "where_is": (
        ["where is the {desc}", "where's the {desc}", "where can i find the {desc}", "show me the {desc}",
         "find the {desc}", "where do you see the {desc}"],
        ["where can you see the {desc}", "can you find the {desc}"],
    ),
    "go_to": (
        ["go to the {desc}", "drive to the {desc}", "move to the {desc}", "navigate to the {desc}",
         "head to the {desc}", "go over to the {desc}", "take me to the {desc}", "approach the {desc}"],
        ["please drive over to the {desc}", "navigate over to the {desc}"],
    ),
    "look_at": (
        ["look at the {desc}", "turn to the {desc}", "face the {desc}", "point the camera at the {desc}",
         "focus on the {desc}", "have a look at the {desc}"],
        ["please look at the {desc}", "point at the {desc}"],
    ),
}

FOLLOWUP_INTENTS: dict[str, tuple[list[str], list[str]]] = {
    "go_to_it": (
        ["go to it", "go there", "drive over there", "take me there", "go to that one", "move to it",
         "head over there"],
        ["drive to it", "go over there"],
    ),
    "look_at_it": (
        ["look at it", "look at that one", "turn to it", "face it", "look over there",
         "point the camera at it"],
        ["have a look at it", "turn to that one"],
    ),
    "colour_of_it": (
        ["what colour is it", "what colour is that one", "which colour is it", "what colour does it have",
         "tell me its colour"],
        ["which colour does it have", "what is its colour"],
    ),
    "where_is_it": (
        ["where is it", "where is that one", "where can i find it", "where do you see it",
         "show me where it is"],
        ["where can you see it", "tell me where it is"],
    ),
}

# which earlier intents a follow-up can refer back to (they name exactly one object)
FOLLOWUP_CONTEXTS: dict[str, tuple[str, ...]] = {
    "go_to_it": ("where_is", "what_in_region", "colour_of", "exists"),
    "look_at_it": ("where_is", "what_in_region", "colour_of", "exists"),
    "colour_of_it": ("where_is", "exists"),  # context names only the kind: colour needs the scene
    "where_is_it": ("colour_of", "exists"),
}

ALL_INTENTS: dict[str, tuple[list[str], list[str]]] = {**SPEECH_INTENTS, **SCENE_INTENTS, **FOLLOWUP_INTENTS}

# Short forms people say to a robot (and the keyword sets of spoken-command corpora such as
# Speech Commands: "left", "right", "forward", "backward"), in the recognisers' grammar so that
# they can be heard at all (without them "left" was heard as "halt" or "move ahead"), but never
# in training or test data: the model answers them from the words it was trained on
# (test/test_short_forms.py checks every one on the shipped model). Only words of the shipped
# vocabulary; none the model gets wrong ("go" alone: backing up) and no follow-up wording.
# Session 29 added the everyday ways of saying a direction that the templates lack ("go to the
# left", "move to your right", "head left", "drive backwards": the natural-command probe's most
# missed command was "go to the left"); each direction's forms mirror the other's ("move left"
# is not one: the model answers it "moving forward", so "move right" stays out too, lest a
# "move left" be heard as it). "left turn", "right turn", "to the left" and "to the right" were
# tried and dropped: pocketsphinx heard real out-of-domain words ("eyebrow", "bacon", "excuse
# me", "tomato") as them and 8 of the 355 real recordings turned the robot.
SHORT_FORMS: dict[str, list[str]] = {
    "stop": ["stop it", "stop please", "stop that", "stop stop", "stay there"],
    "turn_left": ["left", "go left", "go to the left", "move to the left", "go to your left", "move to your left",
                  "head left"],
    "turn_right": ["right", "go right", "go to the right", "move to the right", "go to your right",
                   "move to your right", "head right"],
    "forward": ["forward", "go ahead", "keep going", "straight ahead", "drive ahead"],
    "backward": ["backward", "backwards", "go backward", "move backwards", "drive backwards", "back off",
                 "go in reverse"],
    "capabilities": ["help"],
}
# Other everyday ways of saying a command, heard by the recognisers' grammar and forwarded to the
# model as the trained sentence they mean (heard sentence -> sentence the model gets), like the
# words around a command: the model never reads them. "move left" is the case: people say it,
# and the shipped model answers it "moving forward" (action turn_left), so it cannot be a short
# form; session 29's probe of commands in neither grammar heard it as "go back", "move back" or
# "move forward" for most voices. Heard only when pocketsphinx heard them itself or our CTC is
# sure, and never inside wrapper words, like the short forms (session 30).
SPOKEN_ALIASES: dict[str, str] = {
    "move left": "turn left", "move right": "turn right",
    "take a left": "turn left", "take a right": "turn right",
    "go forwards": "go forward", "go straight on": "go straight",
    "step back": "go back", "back up a bit": "back up",
    "stop there": "stop", "hold on": "stop",
}
INTENT_ACTION: dict[str, str] = {
    "stop": "stop", "turn_left": "turn_left", "turn_right": "turn_right", "forward": "forward",
    "backward": "backward", "capabilities": "none", "describe": "none", "what_in_region": "none",
    "colour_of": "none", "count": "none", "exists": "none", "where_is": "look_at", "go_to": "navigate_to",
    "look_at": "look_at", "go_to_it": "navigate_to", "look_at_it": "look_at", "colour_of_it": "none",
    "where_is_it": "look_at",
}
SPEECH_ANSWERS: dict[str, str] = {
    "stop": "stopping", "turn_left": "turning left", "turn_right": "turning right",
    "forward": "moving forward", "backward": "backing up",
    "capabilities": "i can look listen answer questions and move around",
}
# default mix of intent families for `sample_intent`
FAMILY_WEIGHTS: dict[str, float] = {"speech": 0.3, "scene": 0.5, "followup": 0.2}


def template_id(intent: str, phrasing: str, index: int) -> str:
    """Stable id of a template, e.g. ``"go_to/train/3"``."""
    return f"{intent}/{phrasing}/{index}"


def templates(intent: str, phrasing: str) -> list[str]:
    if intent not in ALL_INTENTS:
        raise InputError(f"unknown intent {intent!r}; expected one of {tuple(ALL_INTENTS)}")
    if phrasing not in PHRASINGS:
        raise InputError(f"unknown phrasing split {phrasing!r}; expected one of {PHRASINGS}")
    train, heldout = ALL_INTENTS[intent]
    return train if phrasing == "train" else heldout


def route_for(intent: str, spoken: bool) -> str:
    """Cheapest expert that can answer ``intent``."""
    if not spoken:
        return "vision"  # typed queries: the text path is always there, the scene is the extra
    if intent in SPEECH_INTENTS:
        return "speech"
    if intent in FOLLOWUP_INTENTS:
        return "trimodal"
    return "speech_vision"


# ----------------------------------------------------------------------------- wording


def article(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def number_phrase(n: int, kind: str) -> str:
    """``"there are two cups"``, ``"there is one cup"``, ``"there are no cups"``."""
    if n == 1:
        return f"there is one {kind}"
    return f"there are {NUMBER_WORDS[n]} {PLURALS[kind]}"


def list_phrase(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return " ".join(items[:-1]) + " and " + items[-1]


NOT_SEEN = "i can't see"  # the answer's start when the object named is not in view
# intents that name one object to act on or describe: answered not_seen(desc) when it is absent
# (make_turn; "exists" answers "no there is no ..." instead)
ACT_ON_INTENTS = ("colour_of", "where_is", "go_to", "look_at")


def not_seen(desc: str) -> str:
    return f"{NOT_SEEN} {article(desc)}"


def fill(template: str, *, desc: str = "", kind: str = "", where: str = "") -> str:
    return template.format(
        desc=desc, a_desc=article(desc) if desc else "", kind=kind,
        kinds=PLURALS.get(kind, ""), where=where,
    )


# ----------------------------------------------------------------------------- turns


@dataclass
class Turn:
    """One user query with its expected response."""

    intent: str
    template_id: str
    query: str
    answer: str
    action: str  # one of ACTIONS
    target_uv: tuple[float, float] | None  # set iff action in TARGET_ACTIONS
    route: str  # cheapest sufficient expert, one of ROUTES
    spoken: bool
    context: str = ""  # f"{context_query} {CONTEXT_SEP} {context_answer}", "" when none
    context_query: str = ""
    context_answer: str = ""
    context_intent: str = ""  # intent of the previous turn (follow-ups only)
    referent: int | None = None  # index into the scene's objects of the object meant, if any
    needs_vision: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["target_uv"] = None if self.target_uv is None else [round(float(c), 4) for c in self.target_uv]
        return d


def _describe_ok(objects: Sequence[ObjectTruth], index: int, with_colour: bool) -> bool:
    """Does the description pick out object ``index`` uniquely?"""
    o = objects[index]
    same = [p for p in objects if p.kind == o.kind and (not with_colour or p.colour == o.colour)]
    return len(same) == 1


def _pick_desc(objects, index, rng, force_colour: bool = False) -> str | None:
    o = objects[index]
    options = []
    if _describe_ok(objects, index, True):
        options.append(f"{o.colour} {o.kind}")
    if not force_colour and _describe_ok(objects, index, False):
        options.append(o.kind)
    if not options:
        return None
    return options[int(rng.integers(len(options)))]


def _absent_desc(objects, rng, allowed_combos, kind_only: bool = False) -> str | None:
    present = {(o.colour, o.kind) for o in objects}
    kinds_present = {o.kind for o in objects}
    if kind_only:
        cands = [k for k in KINDS if k not in kinds_present]
        return cands[int(rng.integers(len(cands)))] if cands else None
    cands = [f"{c} {k}" for c, k in sorted(allowed_combos) if (c, k) not in present]
    return cands[int(rng.integers(len(cands)))] if cands else None


def _choose_template(intent: str, phrasing: str, rng: np.random.Generator) -> tuple[str, str]:
    tmpl = templates(intent, phrasing)
    i = int(rng.integers(len(tmpl)))
    return tmpl[i], template_id(intent, phrasing, i)


def sample_intent(rng: np.random.Generator, weights: dict[str, float] | None = None) -> str:
    w = weights or FAMILY_WEIGHTS
    families = {"speech": SPEECH_INTENTS, "scene": SCENE_INTENTS, "followup": FOLLOWUP_INTENTS}
    names = list(w)
    p = np.asarray([w[n] for n in names], dtype=np.float64)
    family = names[int(rng.choice(len(names), p=p / p.sum()))]
    intents = list(families[family])
    return intents[int(rng.integers(len(intents)))]


def make_turn(
    objects: Sequence[ObjectTruth],
    rng: np.random.Generator,
    *,
    intent: str | None = None,
    spoken: bool = True,
    phrasing: str = "train",
    focus: int | None = None,
    allowed_combos: Iterable[tuple[str, str]] | None = None,
    absent_rate: float = 0.1,
) -> Turn:
    """Generate one query about ``objects`` (a rendered scene's ground truth, left to right).

    intent: one of ALL_INTENTS, or None to sample one (``sample_intent``).
    spoken: False makes a typed query (route ``vision``); speech-only intents are always spoken.
    phrasing: ``"train"`` or ``"heldout"`` templates.
    focus: index of the object the query should preferably be about.
    allowed_combos: (colour, kind) pairs that may be named for objects *not* in the scene.
    absent_rate: probability that a referring query names an object that is not there.
    """
    if not objects:
        raise InputError("make_turn needs a scene with at least one object")
    intent = intent or sample_intent(rng)
    combos = set(allowed_combos) if allowed_combos is not None else {(c, k) for c in COLOURS for k in KINDS}
    if intent in SPEECH_INTENTS:
        spoken = True
    if intent in FOLLOWUP_INTENTS:
        return _followup_turn(objects, rng, intent, spoken, phrasing, focus, combos)
    template, tid = _choose_template(intent, phrasing, rng)
    route = route_for(intent, spoken)
    base = dict(intent=intent, template_id=tid, route=route, spoken=spoken, needs_vision=intent in SCENE_INTENTS)
    if intent in SPEECH_INTENTS:
        return Turn(query=fill(template), answer=SPEECH_ANSWERS[intent], action=INTENT_ACTION[intent], target_uv=None, **base)
    if intent == "describe":
        answer = "i see " + list_phrase([article(o.name) for o in objects])
        return Turn(query=fill(template), answer=answer, action="none", target_uv=None, **base)
    if intent == "what_in_region":
        by_region = {o.region: i for i, o in enumerate(objects)}
        if focus is not None and rng.random() > 0.2:
            region = objects[focus].region
        else:
            region = REGIONS[int(rng.integers(len(REGIONS)))]
        where = WHERE[region]
        index = by_region.get(region)
        answer = article(objects[index].name) if index is not None else f"there is nothing {where}"
        return Turn(query=fill(template, where=where), answer=answer, action="none", target_uv=None, referent=index, **base)
    if intent == "count":
        counts = object_counts(objects)
        if focus is not None and rng.random() > 0.3:
            kind = objects[focus].kind
        else:
            kind = KINDS[int(rng.integers(len(KINDS)))]
        return Turn(query=fill(template, kind=kind), answer=number_phrase(counts[kind], kind), action="none", target_uv=None, **base)
    # referring intents: colour_of, exists, where_is, go_to, look_at
    kind_only = intent == "colour_of"
    index = _pick_referent(objects, rng, focus, kind_only)
    absent = index is None or rng.random() < (0.4 if intent == "exists" else absent_rate)
    if absent:
        # name a missing colour of a present kind, or (half the time, if any) a missing kind
        desc = _absent_desc(objects, rng, combos, kind_only=kind_only or rng.random() < 0.5)
        if desc is None and not kind_only:
            desc = _absent_desc(objects, rng, combos)
        if desc is not None:
            query = fill(template, desc=desc, kind=desc)
            answer = f"no there is no {desc}" if intent == "exists" else not_seen(desc)
            return Turn(query=query, answer=answer, action="none", target_uv=None, **base)
        if index is None:  # nothing absent to name and nothing nameable: fall back
            return make_turn(objects, rng, intent="describe", spoken=spoken, phrasing=phrasing)
    o = objects[index]
    if kind_only:
        desc = o.kind
    else:
        desc = _pick_desc(objects, index, rng)
    query = fill(template, desc=desc, kind=o.kind)
    action = INTENT_ACTION[intent]
    target = tuple(o.centre_uv) if action in TARGET_ACTIONS else None
    answer = {
        "colour_of": f"the {o.kind} is {o.colour}",
        "exists": f"yes there is {article(desc)}",
        "where_is": f"the {desc} is {WHERE[o.region]}",
        "go_to": f"going to the {desc}",
        "look_at": f"looking at the {desc}",
    }[intent]
    return Turn(query=query, answer=answer, action=action, target_uv=target, referent=index, **base)


def _pick_referent(objects, rng, focus, kind_only: bool) -> int | None:
    """An object that a description can name uniquely (by kind alone if ``kind_only``)."""
    ok = [i for i in range(len(objects)) if _describe_ok(objects, i, not kind_only)]
    if not ok:
        return None
    if focus is not None and focus in ok and rng.random() > 0.2:
        return focus
    return ok[int(rng.integers(len(ok)))]


def _followup_turn(objects, rng, intent, spoken, phrasing, focus, combos) -> Turn:
    ctx_intents = list(FOLLOWUP_CONTEXTS[intent])
    ctx = None
    for _ in range(8):  # find a context turn that names exactly one present object
        ctx_intent = ctx_intents[int(rng.integers(len(ctx_intents)))]
        kind_only = intent == "colour_of_it"
        index = _pick_referent(objects, rng, focus, kind_only or ctx_intent == "colour_of")
        if index is None:
            break
        o = objects[index]
        # the context query names the kind only where the follow-up asks for the colour
        desc = o.kind if (kind_only or ctx_intent == "colour_of") else _pick_desc(objects, index, rng)
        if desc is None:
            continue
        tmpl, _ = _choose_template(ctx_intent, phrasing, rng)
        if ctx_intent == "what_in_region":
            if kind_only:
                continue
            q = fill(tmpl, where=WHERE[o.region])
            a = article(o.name)
        else:
            q = fill(tmpl, desc=desc, kind=o.kind)
            a = {
                "colour_of": f"the {o.kind} is {o.colour}",
                "exists": f"yes there is {article(desc)}",
                "where_is": f"the {desc} is {WHERE[o.region]}",
            }[ctx_intent]
        ctx = (index, q, a, ctx_intent)
        break
    if ctx is None:
        return make_turn(objects, rng, intent="describe", spoken=spoken, phrasing=phrasing)
    index, cq, ca, ci = ctx
    o = objects[index]
    template, tid = _choose_template(intent, phrasing, rng)
    action = INTENT_ACTION[intent]
    answer = {
        "go_to_it": f"going to the {o.name}",
        "look_at_it": f"looking at the {o.name}",
        "colour_of_it": f"the {o.kind} is {o.colour}",
        "where_is_it": f"the {o.name} is {WHERE[o.region]}",
    }[intent]
    return Turn(
        intent=intent, template_id=tid, query=fill(template), answer=answer, action=action,
        target_uv=tuple(o.centre_uv) if action in TARGET_ACTIONS else None,
        route=route_for(intent, spoken), spoken=spoken,
        context=f"{cq} {CONTEXT_SEP} {ca}", context_query=cq, context_answer=ca, context_intent=ci,
        referent=index, needs_vision=True,
    )


# ----------------------------------------------------------------------------- enumeration


def _descs() -> list[str]:
    return [f"{c} {k}" for c in COLOURS for k in KINDS] + list(KINDS)


def expand_template(template: str) -> set[str]:
    """Every sentence one template gives with its slots filled."""
    out = set()
    if "{where}" in template:
        return {fill(template, where=w) for w in WHERE.values()}
    if "{desc}" in template or "{a_desc}" in template:
        return {fill(template, desc=d, kind=d.split()[-1]) for d in _descs()}
    if "{kind" in template:
        return {fill(template, kind=k) for k in KINDS}
    out.add(fill(template))
    return out


def all_queries(phrasing: str | None = None) -> list[str]:
    """Every query sentence users may say: the templates' (``phrasing`` train or heldout), the
    SHORT_FORMS (``short``; never in generated data) and the SPOKEN_ALIASES' heard sentences
    (``alias``; forwarded to the model as their trained sentence); None: all of them (the
    recognisers' grammar)."""
    out: set[str] = set()
    for intent, (train, heldout) in ALL_INTENTS.items():
        for split, tmpls in (("train", train), ("heldout", heldout)):
            if phrasing in (None, split):
                for t in tmpls:
                    out |= expand_template(t)
    if phrasing in (None, "short"):
        out |= {s for forms in SHORT_FORMS.values() for s in forms}
    if phrasing in (None, "alias"):
        out |= set(SPOKEN_ALIASES)
    return sorted(out)


def all_answers() -> list[str]:
    """Every answer sentence the generator can produce."""
    out = set(SPEECH_ANSWERS.values())
    names = [f"{c} {k}" for c in COLOURS for k in KINDS]
    for d in _descs():
        out |= {not_seen(d), f"no there is no {d}", f"yes there is {article(d)}",
                f"going to the {d}", f"looking at the {d}"}
        out |= {f"the {d} is {w}" for w in WHERE.values()}
    out |= {f"the {k} is {c}" for c in COLOURS for k in KINDS}
    out |= {article(n) for n in names}
    out |= {f"there is nothing {w}" for w in WHERE.values()}
    out |= {number_phrase(n, k) for n in range(len(NUMBER_WORDS)) for k in KINDS}
    # describe: up to three objects, left to right
    arts = [article(n) for n in names]
    out |= {"i see " + a for a in arts}
    out |= {"i see " + list_phrase([a, b]) for a in arts for b in arts}
    # three-object lists are too many to enumerate (35^3); their words are all covered above
    return sorted(out)


def all_sentences() -> list[str]:
    """Queries and answers: the domain of the speech recognizer and the text vocabulary (not the
    SPOKEN_ALIASES: the model never reads them)."""
    return sorted((set(all_queries()) - set(SPOKEN_ALIASES)) | set(all_answers()))


def vocabulary() -> list[str]:
    """Every word in ``all_sentences()``, sorted (``CONTEXT_SEP`` is a tokenizer special, not included)."""
    words: set[str] = set()
    for s in all_sentences():
        words.update(s.split())
    return sorted(words)


def sentences_for(vocabulary: str) -> list[str] | None:
    """A recognizer vocabulary setting -> sentences: ``queries`` (what users say: the templates'
    phrasings, the SHORT_FORMS and the SPOKEN_ALIASES), ``templates`` (the templates' phrasings only: no single
    "left" / "right" for short out-of-domain words to land on), ``domain`` (queries + answers),
    ``none`` (None) or a path to a file with one sentence a line."""
    if vocabulary in ("queries", "domain"):
        return all_queries() if vocabulary == "queries" else all_sentences()
    if vocabulary == "templates":
        return sorted(set(all_queries("train")) | set(all_queries("heldout")))
    if not vocabulary or vocabulary == "none":
        return None
    from pathlib import Path
    path = Path(vocabulary)
    if not path.is_file():
        raise InputError(f"vocabulary file {vocabulary!r} not found (expected queries | templates | domain | none | PATH)")
    return [s for s in path.read_text().splitlines() if s.strip()]
