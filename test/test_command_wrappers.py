"""Words people wrap around a command ("robot, stop", "turn left please", "can you ..."):
split off by model/speech/command_wrappers.py, heard by the front end's second pocketsphinx
decoder (the grammar with a wrapper allowed at a penalty), and heard through the real default
front end when another engine (flite: never trained on) says them; the sentence inside is what
the model gets."""
import pytest

from shipped_model import MODEL
from tristream_ros.errors import InputError
from tristream_ros.model.speech.command_wrappers import PREFIXES, SUFFIXES, CommandWrappers, wrap

SENTENCES = frozenset({"stop", "turn left", "turn left please", "please turn left", "go back", "move forward now",
                       "move forward", "can you see a ball here", "see a ball"})


def test_split_keeps_grammar_sentences_whole():
    w = CommandWrappers()
    for s in ("turn left please", "please turn left", "move forward now", "can you see a ball here"):
        assert w.split(s, SENTENCES) == ("", s, "")  # trained sentences that start or end like a wrapper


def test_split_takes_off_prefix_and_suffix():
    w = CommandWrappers()
    assert w.split("robot stop", SENTENCES) == ("robot", "stop", "")
    assert w.split("okay robot go back please", SENTENCES) == ("okay robot", "go back", "please")
    assert w.split("can you turn left", SENTENCES) == ("can you", "turn left", "")
    assert w.split("Stop  Thank you", SENTENCES) == ("", "stop", "thank you")
    # the longest sentence inside wins: "turn left please" is a sentence, so "please" stays in it
    assert w.split("robot turn left please", SENTENCES) == ("robot", "turn left please", "")
    assert w.inner("hey robot move forward now", SENTENCES) == "move forward now"


def test_split_returns_none_without_a_sentence_inside():
    w = CommandWrappers()
    assert w.split("robot", SENTENCES) is None  # a wrapper alone is no command
    assert w.split("robot dance", SENTENCES) is None
    assert w.split("please please stop", SENTENCES) is None  # one prefix at most
    assert w.inner("robot dance", SENTENCES) == "robot dance"
    with pytest.raises(InputError):
        CommandWrappers(prefixes=("robot", "  "))
    with pytest.raises(InputError):
        CommandWrappers(weight=0.0)


def test_short_forms_are_heard_only_bare():
    w = CommandWrappers(bare_only=frozenset({"left", "right"}))
    sentences = SENTENCES | {"left", "right"}
    assert w.split("right", sentences) == ("", "right", "")  # bare: as before
    assert w.split("right now", sentences) is None and w.split("robot left", sentences) is None
    assert w.wrappable(["left", "turn left", "right"]) == ["turn left"]


def test_front_end_never_wraps_the_short_forms():
    from tristream_ros.data.language import all_queries
    from tristream_ros.model.speech.frontend import configured_frontend
    tok = configured_frontend("pocketsphinx", command_wrappers=True)
    wrapped = set(tok.wrapper_recognizer.config.vocabulary.sentences)
    assert tok.wrappers.bare_only == frozenset(all_queries("short")) | frozenset(all_queries("alias"))
    assert not wrapped & set(all_queries("short")) and "turn left" in wrapped
    assert set(tok.recognizer.config.vocabulary.sentences) >= set(all_queries("short"))  # the plain grammar keeps them
    assert configured_frontend("pocketsphinx").wrapper_recognizer is not None  # on by default (session 28)
    assert configured_frontend("pocketsphinx", command_wrappers=False).wrapper_recognizer is None
    assert configured_frontend("pocketsphinx", mode="lm", command_wrappers=True).wrapper_recognizer is None


def test_wrap_and_lists():
    assert wrap("robot", "stop", "") == "robot stop" and wrap("", "stop", "now") == "stop now"
    assert "robot" in PREFIXES and "please" in SUFFIXES
    assert set(CommandWrappers().words) >= {"robot", "okay", "please", "thank", "you"}


def test_grammar_allows_one_optional_wrapper_each_side():
    from tristream_ros.model.speech.pocketsphinx_frontend import DomainVocabulary
    plain = DomainVocabulary(("stop", "turn left"))
    assert "<prefix>" not in plain.jsgf() and "robot" not in plain.words
    wrapped = DomainVocabulary(("stop", "turn left"), wrappers=CommandWrappers())
    g = wrapped.jsgf()
    assert "public <utterance> = ( /1/ <NULL> | /1e-30/ <prefix> ) ( stop | turn left ) ( /1/ <NULL> | /1e-30/ <suffix> );" in g
    assert "<prefix> = ( robot | hey robot" in g and "robot" in wrapped.words
    lm = DomainVocabulary(("stop", "turn left"), mode="lm", wrappers=CommandWrappers())
    assert "robot" not in lm.words  # an LM accepts any word order already: no wrappers


def test_wrapped_queries_keep_what_is_expected():
    from tristream_ros.training.evaluate_tts import tts_queries, wrapped_queries
    qs = tts_queries(12, seed=3)
    a, b = wrapped_queries(qs, 3), wrapped_queries(qs, 3)
    assert [x["spoken_text"] for x in a] == [x["spoken_text"] for x in b]  # deterministic
    w = CommandWrappers()
    for q, x in zip(qs, a):
        assert (x["query"], x["answer"], x["action"]) == (q["query"], q["answer"], q["action"])
        pre, inner, suf = w.split(x["spoken_text"], frozenset({q["query"]}))
        assert inner == q["query"] and (pre or suf)


def test_robot_stop_is_heard_as_stop():
    """Two flite voices (real speakers' diphones, never trained on) say "robot stop": the default
    front end hears the wrapper and forwards "stop". With the grammar's sentences alone the same
    audio was heard as "go back" / "move back" (session 27: the robot backed up)."""
    from tristream_ros.data.tts_engines import engine_synthesize
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_tts import _pad
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(MODEL)
    on = build_frontend(speech, "hybrid", MODEL)  # on by default (session 28)
    # without the wrappers, and without the voice gate (session 31): session 27's front end, whose
    # CTC turned this audio into "go back" / "move back" (with the gate flite's rms keeps
    # pocketsphinx's own "approach the cup": also not "stop")
    off = build_frontend(speech, "hybrid", MODEL, command_wrappers=False, voice_gate=False)
    for voice in ("slt", "rms"):
        audio = _pad(engine_synthesize("flite", "robot stop", voice))
        utt = on.transcribe(audio)
        assert utt is not None and utt.understood and utt.text == "stop", (voice, utt and utt.text)
        assert on.last_wrapper == ("robot", "") and on.wrapper_recognizer is not None
        # our CTC scored only the command's frames (the wrapper decoder's word timing): its
        # candidates are the grammar's own sentences, not "robot ..."
        words = [w for w, _, _ in on.wrapper_recognizer.last_segments]
        assert words[0] == "robot" and words[-1] == "stop", words
        assert on.last_match is not None and "robot" not in on.last_match.text.split()
        # the plain decoder aligns the wrapped sentence (its dictionary has the wrapper words):
        # without them every alignment was -inf, the rescoring fell back to the CTC's guess and
        # the rejection marked the command not understood (session 27's first measurements)
        assert on.last_rejection is None or on.last_rejection["gap"] is None or on.last_rejection["gap"] > -1.0
        assert on.recognizer.align_scores(["robot stop"])[0] > float("-inf")
        # the alignment check: "robot stop" aligned better than the plain decoder's sentence
        # (when the plain decoder heard one), and our CTC did not explain it with a bare sentence
        if on.last_wrapper_check is not None:
            wrapped_text, a_wrapped, plain_text, a_plain = on.last_wrapper_check
            assert wrapped_text == "robot stop" and plain_text != "robot stop" and a_wrapped > a_plain
        assert on.last_wrapper_veto is None
        plain = off.transcribe(audio)
        assert off.wrapper_recognizer is None
        assert off.last_wrapper == ("", "")
        assert plain is not None and plain.text in ("go back", "move back"), (voice, plain and plain.text)


def test_flite_wrapped_commands_heard_with_the_wrappers_on():
    """One flite voice says held-out commands inside wrapper words (`tristream eval --engine flite
    --wrapped`); with speech.command_wrappers on the front end hears at least as many of the
    commands themselves (the sentence inside) as without (on by default since session 28)."""
    from tristream_ros.training.evaluate_tts import evaluate_tts
    kw = dict(voices=["slt"], n=10, seed=0, espeak_reference=False, keep_predictions=True, wrapped=True)
    on = evaluate_tts(MODEL, "flite", command_wrappers=True, **kw)
    off = evaluate_tts(MODEL, "flite", command_wrappers=False, **kw)
    assert on["wrapped"] and on["command_wrappers"] and not off["command_wrappers"]
    rows_on, rows_off = on["predictions"]["slt"], off["predictions"]["slt"]
    assert all(x["spoken_text"] != x["query"] for x in rows_on)
    heard_on = sum(x["heard"] == x["query"] for x in rows_on)
    heard_off = sum(x["heard"] == x["query"] for x in rows_off)
    assert heard_on >= heard_off, [(x["spoken_text"], x["heard"]) for x in rows_on]


def test_wrapper_refused_when_it_does_not_align_better():
    """The alignment check (CommandWrappers.min_align_lead): with a lead no alignment can reach
    the wrapper decoder's "robot stop" is refused and the front end answers exactly as the plain
    grammar's (wrappers off); the check's inputs stay readable for diagnostics."""
    from dataclasses import replace
    from tristream_ros.data.tts_engines import engine_synthesize
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_tts import _pad
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(MODEL)
    strict = build_frontend(speech, "hybrid", MODEL, command_wrappers=True)
    strict.wrappers = replace(strict.wrappers, min_align_lead=1e9)
    off = build_frontend(speech, "hybrid", MODEL, command_wrappers=False)
    audio = _pad(engine_synthesize("flite", "robot stop", "slt"))
    a, b = strict.transcribe(audio), off.transcribe(audio)
    assert strict.last_wrapper == ("", "") and strict.last_wrapper_check is not None
    assert strict.last_wrapper_check[0] == "robot stop"
    assert (a.text, a.understood) == (b.text, b.understood)


def test_real_speech_outside_the_grammar_cannot_hide_in_a_wrapper():
    """A real recording outside the domain (pocketsphinx's something.wav): the wrapper decoder
    hears "focus on the orange bottle thanks", the tail of the sentence absorbed by "thanks".
    Aligned with the wrapper words the sentence explained the audio well enough to pass the
    rejection (session 28); the rejection now reads the command's own audio (the span inside the
    wrapper words, as its thresholds were calibrated on bare sentences) and marks it not
    understood, as the front end without wrappers does."""
    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_domain import RECORDINGS_DIR
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(MODEL)
    tok = build_frontend(speech, "hybrid", MODEL)
    audio = read_wav(RECORDINGS_DIR / "something.wav")
    utt = tok.transcribe(audio)
    assert tok.last_wrapper != ("", "") and not utt.understood, (utt.text, tok.last_wrapper, tok.last_rejection)
    start, end = tok.last_rejection["span_samples"]
    assert 0 <= start < end < len(audio)  # the command's span, not the whole utterance


def test_eval_no_command_wrappers_reaches_the_recordings_sections(tmp_path):
    """`tristream eval --real FOLDER --no-command-wrappers`: the per-file section and the CER
    section build their front ends without the wrappers too (session 28 turned them off for the
    split only). flite's "robot stop" is heard as "stop" with them and not without."""
    import json

    from tristream_ros.cli import main
    from tristream_ros.data.speech_synth import write_wav
    from tristream_ros.data.tts_engines import engine_synthesize
    from tristream_ros.training.evaluate_tts import _pad
    write_wav(tmp_path / "robot_stop.wav", _pad(engine_synthesize("flite", "robot stop", "slt")))
    (tmp_path / "robot_stop.txt").write_text("robot stop\n")
    heard = {}
    for flag in ([], ["--no-command-wrappers"]):
        out = tmp_path / f"real{len(flag)}.json"
        assert main(["eval", "--model", str(MODEL), "--real", str(tmp_path), "--json", "--out", str(out), *flag]) == 0
        report = json.loads(out.read_text())
        assert report["command_wrappers"] is (not flag) and report["real_folder"]["command_wrappers"] is (not flag)
        heard[bool(flag)] = (report["real_folder"]["per_file"][0]["heard"],
                             report["real_recordings"]["per_file"][0]["hybrid_default"])
    assert heard[False] == ("stop", "stop"), heard
    assert "stop" not in heard[True], heard
