"""Templates, answers, actions and routes: consistent with the scene's ground truth."""
import re

import numpy as np
import pytest

from tristream_ros.data import language as L
from tristream_ros.data.scenes import IMAGE_SIZE, object_counts, render

CTC_TEXT = re.compile(r"[a-z']+( [a-z']+)*")


def test_all_text_fits_the_ctc_alphabet():
    for s in L.all_sentences():
        assert CTC_TEXT.fullmatch(s), s


def test_held_out_phrasings_are_new_sentences_made_of_known_words():
    train, held = set(L.all_queries("train")), set(L.all_queries("heldout"))
    assert held and not (held & train)
    train_words = {w for s in train for w in s.split()}
    assert {w for s in held for w in s.split()} <= train_words
    for intent, (tr, ho) in L.ALL_INTENTS.items():
        assert len(tr) >= 5 and len(ho) >= 2, intent


def test_routes():
    assert L.route_for("stop", True) == "speech"
    assert L.route_for("go_to", True) == "speech_vision"
    assert L.route_for("go_to_it", True) == "trimodal"
    assert L.route_for("go_to", False) == "vision"
    assert set(L.ROUTES) == {"speech", "vision", "speech_vision", "trimodal"}


def _turns(n_scenes=40, per_scene=12):
    for seed in range(n_scenes):
        scene = render(seed)
        rng = np.random.default_rng(seed)
        for _ in range(per_scene):
            yield scene, L.make_turn(scene.objects, rng, spoken=rng.random() < 0.8,
                                     phrasing=("train", "heldout")[int(rng.integers(2))])


def test_labels_agree_with_the_scene():
    sentences = set(L.all_sentences())
    seen_intents = set()
    for scene, t in _turns():
        objs = scene.objects
        seen_intents.add(t.intent)
        assert t.action in L.ACTIONS and t.route in L.ROUTES
        assert t.query in sentences
        if not t.answer.startswith("i see"):  # 3-object descriptions are not enumerated
            assert t.answer in sentences, t.answer
        assert (t.target_uv is not None) == (t.action in L.TARGET_ACTIONS)
        if t.target_uv is not None:
            o = objs[t.referent]
            assert t.target_uv == tuple(o.centre_uv)
            x0, y0, x1, y1 = o.bbox
            assert x0 <= t.target_uv[0] * IMAGE_SIZE <= x1 and y0 <= t.target_uv[1] * IMAGE_SIZE <= y1
            words = " ".join([t.context_query, t.context_answer, t.query]).split()
            assert o.kind in words  # the object meant is the one named (here or in the previous turn)
            if o.colour in words:
                assert o.colour in t.answer
            assert o.kind in t.answer
        if t.intent == "count":
            kind = next(k for k, p in L.PLURALS.items() if p in t.query.split())
            n = object_counts(objs)[kind]
            assert t.answer == L.number_phrase(n, kind)
        if t.intent in ("colour_of", "colour_of_it") and t.referent is not None:
            o = objs[t.referent]
            assert t.answer == f"the {o.kind} is {o.colour}"
        if t.intent == "what_in_region" and t.referent is not None:
            o = objs[t.referent]
            assert L.WHERE[o.region] in t.query and t.answer == L.article(o.name)
        if t.route == "trimodal":
            assert t.context and L.CONTEXT_SEP in t.context and t.spoken
        if t.intent in L.SPEECH_INTENTS:
            assert t.route == "speech" and not t.needs_vision
    assert seen_intents == set(L.ALL_INTENTS)


def test_go_to_the_named_object():
    scene = render(4)
    rng = np.random.default_rng(0)
    for i, o in enumerate(scene.objects):
        t = L.make_turn(scene.objects, rng, intent="go_to", focus=i, absent_rate=0.0)
        if t.referent == i:
            assert t.action == "navigate_to" and t.target_uv == tuple(o.centre_uv)
            desc = t.answer.removeprefix("going to the ")
            assert desc in (o.kind, o.name) and t.query.endswith(f"the {desc}")


def test_same_rng_same_turn():
    scene = render(2)
    a = L.make_turn(scene.objects, np.random.default_rng(9))
    b = L.make_turn(scene.objects, np.random.default_rng(9))
    assert a == b


def test_vocabulary_is_small_and_sorted():
    v = L.vocabulary()
    assert v == sorted(v) and 50 < len(v) < 400
