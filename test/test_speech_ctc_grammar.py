"""CTC sentence scoring (model/speech/ctc_grammar.py) and its use in the hybrid front end: the
best sentence wins clearly when the posteriors spell it, nothing wins clearly on noise, and the
hybrid tokenizer overrides pocketsphinx only past both thresholds."""
import glob
import wave

import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.ctc_grammar import CtcSentenceScorer, GrammarThresholds
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.speech.tokenizer import HybridSpeechTokenizer
from tristream_ros.model.text_tokenizer import BLANK_ID, CHAR_SYMBOLS, CharVocab

SENTENCES = ["turn left", "turn right", "stop", "go to the red ball", "go to the red box"]
SPEECH = sorted(glob.glob("/work/shared/data/speech/*.wav"))


def spelled(text: str, frames_per_char: int = 3, sharp: float = 8.0) -> torch.Tensor:
    """Peaky CTC log-probs (T, V) that spell `text`: each character for a few frames, blanks between."""
    ids = CharVocab().encode(text)
    seq = []
    for i in ids:
        seq += [i] * frames_per_char + [BLANK_ID]
    logits = torch.zeros(len(seq), len(CHAR_SYMBOLS))
    logits[torch.arange(len(seq)), torch.tensor(seq)] = sharp
    return logits.log_softmax(-1)


def test_spelled_sentence_wins_with_a_margin():
    scorer = CtcSentenceScorer(SENTENCES)
    for s in SENTENCES:
        m = scorer.best(spelled(s))
        assert m.text == s
        assert m.margin > 0.5 and m.score > -0.1
    # one letter apart ("ball" vs "box") still separates
    m = scorer.best(spelled("go to the red bax"))
    assert m.text == "go to the red box" and m.margin > 0


def test_noise_has_no_clear_winner():
    torch.manual_seed(0)
    m = CtcSentenceScorer(SENTENCES).best(torch.randn(60, len(CHAR_SYMBOLS)).log_softmax(-1))
    assert m.score < -1.0


def test_bad_inputs():
    with pytest.raises(InputError, match="at least one"):
        CtcSentenceScorer(["", "  "])
    with pytest.raises(InputError, match=r"\(T, V\)"):
        CtcSentenceScorer(SENTENCES).best(torch.zeros(0, len(CHAR_SYMBOLS)))
    # too few frames for any sentence: every likelihood is -inf, no crash
    ll = CtcSentenceScorer(["go to the red ball"]).log_likelihoods(spelled("go")[:3])
    assert torch.isinf(ll).all()


def _read(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


@pytest.mark.parametrize("min_score, expect_grammar", [(-1e9, True), (1.0, False)])
def test_hybrid_overrides_pocketsphinx_only_past_the_thresholds(min_score, expect_grammar):
    torch.manual_seed(0)
    model = SpeechModel(SpeechConfig.preset("tiny")).eval()
    tok = HybridSpeechTokenizer(model, grammar=CtcSentenceScorer(SENTENCES),
                                thresholds=GrammarThresholds(min_score, -1e9, -1e9))
    utt = tok.transcribe(np.concatenate([np.zeros(8000, np.float32), _read(SPEECH[4]), np.zeros(12000, np.float32)]))
    assert tok.last_match is not None and tok.last_match.text in SENTENCES
    if expect_grammar:
        assert utt.text == tok.last_match.text
    else:  # a real recording, untrained encoder: pocketsphinx's words stand
        assert utt.text == tok.last_pocketsphinx_text and utt.text.split()[:2] == ["he", "might"]


@pytest.mark.parametrize("acoustic, expect", [(0.01, "turn left"), (0.05, "turn right"), (float("inf"), "turn right")])
def test_hybrid_relaxes_the_lead_only_when_pocketsphinx_was_unsure(acoustic, expect):
    """The CTC spells "turn left", pocketsphinx heard "turn right": a lead threshold nothing
    clears (1e9) keeps pocketsphinx's text unless its acoustic score per frame is below
    unsure_below (0.03; inf = no score), where unsure_min_lead (0.1) applies."""
    from types import SimpleNamespace
    torch.manual_seed(0)
    tok = HybridSpeechTokenizer(SpeechModel(SpeechConfig.preset("tiny")).eval(), grammar=CtcSentenceScorer(SENTENCES),
                                thresholds=GrammarThresholds(-1e9, -1e9, 1e9, 0.03, 0.1))
    tok.encoder_frontend = SimpleNamespace(log_probs=spelled("turn left"))
    tok.recognizer = SimpleNamespace(acoustic_score=acoustic)
    assert tok._choose("turn right", "tunr lft") == expect
    assert tok.last_pocketsphinx_score == acoustic and tok.last_match.lead > 0.5


def test_pocketsphinx_reports_its_acoustic_score():
    tok = HybridSpeechTokenizer(SpeechModel(SpeechConfig.preset("tiny")).eval(), grammar=CtcSentenceScorer(SENTENCES))
    tok.transcribe(np.concatenate([np.zeros(8000, np.float32), _read(SPEECH[4]), np.zeros(12000, np.float32)]))
    assert tok.last_pocketsphinx_text and np.isfinite(tok.last_pocketsphinx_score)


def test_lead_over_another_recognizers_sentence():
    scorer = CtcSentenceScorer(SENTENCES)
    lp = spelled("turn left")
    assert scorer.best(lp, other="turn right").lead > 0.5
    assert scorer.best(lp, other="turn left").lead == 0.0
    assert scorer.best(lp, other="something else entirely").lead == float("inf")
    assert scorer.best(lp).lead == float("inf")


def test_threshold_calibration_keeps_the_guard_set_and_prefers_conservative_thresholds():
    from tristream_ros.training.calibrate_grammar import chosen, grid_search

    def rec(query, heard, best, score, margin, lead):
        return {"query": query, "heard": heard, "ctc_best": best, "score": score, "margin": margin, "lead": lead}
    # val: the CTC fixes two pocketsphinx errors when its score is >= -0.3; one confident CTC error at -0.55
    val = [rec("turn left", "turn right", "turn left", -0.2, 0.1, 0.5),
           rec("stop", "top", "stop", -0.25, 0.1, 0.5),
           rec("go back", "go back", "go black", -0.55, 0.1, 0.5)]
    # guard: pocketsphinx is right, the CTC is wrong at -0.45: any score threshold below -0.45 loses it
    guard = [rec("face the cup", "face the cup", "face the cap", -0.45, 0.2, 0.6)]
    res = grid_search(val, guard, min_lead=0.0)  # the whole grid (the default floor is tested below)
    assert res["pocketsphinx_only"] == {"val_exact": 1 / 3, "guard_exact": 1.0, "guard_exact_by_family": {"guard": 1.0}}
    c = res["chosen"]
    assert c["val_exact"] == 1.0 and c["guard_exact"] == 1.0
    assert -0.45 < c["score"] <= -0.25  # most conservative score that still takes both fixes
    assert chosen(val[2], c["score"], c["margin"], c["lead"]) == "go back"
    assert chosen(rec("x", "y", None, None, None, None), -9, 0, 0) == "y"  # no CTC match: pocketsphinx's text
    # pocketsphinx unsure (acoustic score per frame 0.02): a lead of 0.15 is enough at unsure_min_lead 0.1
    unsure = dict(rec("turn left", "turn right", "turn left", -0.2, 0.1, 0.15), pocketsphinx_score=0.02)
    assert chosen(unsure, -0.3, 0.0, 0.8) == "turn right"
    assert chosen(unsure, -0.3, 0.0, 0.8, 0.03, 0.1) == "turn left"
    assert chosen(dict(unsure, pocketsphinx_score=0.05), -0.3, 0.0, 0.8, 0.03, 0.1) == "turn right"
    res = grid_search(val + [unsure], guard, min_lead=0.0)
    assert res["chosen"]["val_exact"] == 1.0 and res["chosen"]["unsure_below"] is not None
    assert grid_search(val, guard, min_lead=0.0)["chosen"]["unsure_below"] is None  # not needed: off


def test_threshold_calibration_keeps_the_override_lead_at_least_the_floor():
    """Session 19: the lead the override needs over pocketsphinx's sentence is at least MIN_LEAD
    (0.8) unless --min-lead says otherwise: a fix on val that needs a smaller lead is given up, so
    the CTC does not outvote pocketsphinx on voices it does not know by a small lead."""
    from tristream_ros.training.calibrate_grammar import MIN_LEAD, choose, grid_search

    def rec(query, heard, best, score, margin, lead):
        return {"query": query, "heard": heard, "ctc_best": best, "score": score, "margin": margin, "lead": lead}
    val = [rec("turn left", "turn right", "turn left", -0.2, 0.1, 0.5),  # the CTC's fix: lead 0.5
           rec("stop", "stop", "stop", -0.1, 0.3, 0.0)]
    guard = [rec("face the cup", "face the cup", "face the cup", -0.1, 0.2, 0.0)]
    free = grid_search(val, guard, min_lead=0.0)["chosen"]
    assert free["lead"] == 0.5 and free["val_exact"] == 1.0
    floored = grid_search(val, guard)["chosen"]
    assert MIN_LEAD == 0.8 and floored["lead"] >= MIN_LEAD and floored["val_exact"] == 0.5
    assert choose(val, guard, [], [])["min_lead_floor"] == MIN_LEAD
    with pytest.raises(ValueError, match="min_lead"):
        grid_search(val, guard, min_lead=5.0)
    from tristream_ros.training.calibrate_grammar import main
    with pytest.raises(SystemExit):  # the CLI says so before recording anything
        main(["--model", "m", "--data", "d", "--min-lead", "5"])


def test_thresholds_travel_with_the_model_folder(tmp_path):
    from tristream_ros.errors import ModelFileError
    from tristream_ros.model.speech.ctc_grammar import (THRESHOLDS_FILE, GrammarThresholds, load_grammar_thresholds,
                                                        save_grammar_thresholds)
    from tristream_ros.training.evaluate import build_frontend

    assert load_grammar_thresholds(tmp_path) == GrammarThresholds()  # no file: the module defaults
    save_grammar_thresholds(tmp_path, GrammarThresholds(-0.45, 0.01, 0.7), {"tool": "test"})
    assert load_grammar_thresholds(tmp_path) == GrammarThresholds(-0.45, 0.01, 0.7)
    tok = build_frontend(SpeechModel(SpeechConfig.preset("tiny")).eval(), "hybrid", tmp_path)
    assert tok.thresholds == GrammarThresholds(-0.45, 0.01, 0.7)
    assert (tok.thresholds.unsure_below, tok.thresholds.unsure_min_lead) == (float("-inf"), float("inf"))  # off
    save_grammar_thresholds(tmp_path, GrammarThresholds(-0.45, 0.01, 0.7, 0.04, 0.1))
    assert load_grammar_thresholds(tmp_path) == GrammarThresholds(-0.45, 0.01, 0.7, 0.04, 0.1)
    tok = build_frontend(SpeechModel(SpeechConfig.preset("tiny")).eval(), "hybrid", tmp_path)
    assert (tok.thresholds.unsure_below, tok.thresholds.unsure_min_lead) == (0.04, 0.1)
    assert "Infinity" not in (tmp_path / THRESHOLDS_FILE).read_text()
    for bad in ("{not json", '{"min_score": -0.4, "min_margin": 0.0}', '{"min_score": "NaN", "min_margin": 0, "min_lead": 0}'):
        (tmp_path / THRESHOLDS_FILE).write_text(bad)
        with pytest.raises(ModelFileError, match=THRESHOLDS_FILE):
            load_grammar_thresholds(tmp_path)


def test_top_sentences_with_another_recognizers_sentence():
    scorer = CtcSentenceScorer(SENTENCES)
    top = scorer.top(spelled("turn left"), 2, extra=("stop", "turn left", "not a sentence", ""))
    assert [t for t, _ in top] == ["turn left", "turn right", "stop"]  # k best, then the extra not listed yet
    assert top[0][1] > top[1][1] > top[2][1] and top[0][1] == pytest.approx(scorer.best(spelled("turn left")).score)


def test_rescoring_rule_weighs_both_recognizers():
    from tristream_ros.model.speech.ctc_grammar import rescored_sentence
    cands = [("turn left", -0.2), ("turn right", -0.3), ("stop", -1.0)]
    align = [-0.004, -0.003, float("-inf")]  # pocketsphinx prefers "turn right"; it could not align "stop"
    t = lambda w, b=0.0: GrammarThresholds(rescore_top=2, rescore_weight=w, rescore_bonus=b)
    assert rescored_sentence(cands, align, "stop", t(0.0)) == "turn left"  # CTC alone
    assert rescored_sentence(cands, align, "stop", t(1000.0)) == "turn right"  # -0.2-4 < -0.3-3
    assert rescored_sentence(cands, align, "turn left", t(1000.0, 0.95)) == "turn left"  # bonus for pocketsphinx's own
    assert rescored_sentence(cands, align, "stop", t(1000.0, 100.0)) == "turn right"  # -inf alignment never wins
    # the length reward (per character, per frame): "turn right" has one character more than "turn left"
    longer = GrammarThresholds(rescore_top=2, rescore_weight=0.0, rescore_length=20.0)
    assert rescored_sentence(cands[:2], align[:2], "", longer, frames=400) == "turn left"  # 0.05 per char < the 0.1 gap
    assert rescored_sentence(cands[:2], align[:2], "", longer, frames=10) == "turn right"  # 2.0 per char: the longer wins
    with pytest.raises(InputError):
        rescored_sentence([], [], "", t(1.0))


def test_hybrid_rescoring_with_real_pocketsphinx_alignment():
    """The hybrid with rescoring on, real pocketsphinx and an (untrained) encoder: pocketsphinx
    aligns every candidate (the CTC's top sentences plus its own) and the text is the rule's
    choice over those scores; with rescoring off the same utterance keeps pocketsphinx's text.
    (Alignment alone is no recognizer: its silence model absorbs unspoken words cheaply, so the
    CTC's score carries the coverage; the weights are calibrated per model.)"""
    from tristream_ros.model.speech.ctc_grammar import rescored_sentence
    from tristream_ros.model.speech.pocketsphinx_frontend import DomainVocabulary, PocketsphinxConfig
    from tristream_ros.outputs.tts import EspeakTTS
    torch.manual_seed(0)
    x = np.concatenate([np.zeros(8000, np.float32), EspeakTTS(voice="en-us", speed_wpm=150).synthesize("go to the red box"),
                        np.zeros(12000, np.float32)])
    never = dict(min_score=1e9, min_margin=1e9, min_lead=1e9)
    on = GrammarThresholds(**never, rescore_top=3, rescore_weight=500.0, rescore_bonus=0.2)
    tok = HybridSpeechTokenizer(SpeechModel(SpeechConfig.preset("tiny")).eval(),
                                PocketsphinxConfig(DomainVocabulary(SENTENCES)), grammar=CtcSentenceScorer(SENTENCES),
                                thresholds=on)
    utt = tok.transcribe(x)
    ps = tok.last_pocketsphinx_text
    assert ps == "go to the red box"  # the grammar search hears this clear voice
    cands = tok.last_rescored
    assert ps in [t for t, _, _ in cands] and 3 <= len(cands) <= 4
    assert all(np.isfinite(c) and np.isfinite(a) and a < 0 for _, c, a in cands)
    assert utt.text == rescored_sentence([(t, c) for t, c, _ in cands], [a for _, _, a in cands], ps, on)
    tok.thresholds = GrammarThresholds(**never)
    assert tok.transcribe(x).text == ps and tok.last_rescored is None


def test_rescoring_calibration_turns_on_only_when_it_gains():
    from tristream_ros.training.calibrate_grammar import chosen, rescore_search

    def rec(query, ps, cands):  # override never fires in these records (score -9)
        return {"query": query, "heard": ps, "pocketsphinx": ps, "ctc_best": cands[0][0], "score": -9.0,
                "margin": 0.0, "lead": 0.0, "pocketsphinx_score": 1.0, "candidates": cands}
    # val: pocketsphinx heard wrong; its alignment ranks the CTC's second candidate (the truth) first
    val = [rec("turn left", "stop", [["turn right", -0.2, -0.005], ["turn left", -0.25, -0.003], ["stop", -1.0, -0.004]])]
    guard = [rec("stop", "stop", [["turn left", -0.3, -0.004], ["stop", -0.5, -0.0035]])]
    th = (-0.4, 0.0, 0.8, float("-inf"), float("inf"))
    assert chosen(val[0], *th) == "stop"
    res = rescore_search(val, guard, th)
    assert res["rescore_top"] == 2 and res["val_exact"] == 1.0 and res["guard_exact"] == 1.0
    assert res["val_exact_without_rescoring"] == 0.0
    assert chosen(val[0], *th, res["rescore_top"], res["rescore_weight"], res["rescore_bonus"]) == "turn left"
    # a guard the rescoring would break keeps it off
    bad_guard = [rec("stop", "stop", [["turn left", -0.1, -0.003], ["stop", -0.9, -0.0031]])]
    assert rescore_search(val, bad_guard, th)["rescore_top"] == 0


def test_rescoring_settings_travel_with_the_model_folder(tmp_path):
    from tristream_ros.model.speech.ctc_grammar import THRESHOLDS_FILE, load_grammar_thresholds, save_grammar_thresholds
    t = GrammarThresholds(-0.4, 0.0, 0.8, 0.042, 0.1, rescore_top=3, rescore_weight=500.0, rescore_bonus=0.2,
                          rescore_length=8.0)
    save_grammar_thresholds(tmp_path, t)
    assert load_grammar_thresholds(tmp_path) == t
    save_grammar_thresholds(tmp_path, GrammarThresholds(-0.4, 0.0, 0.8))  # off: not written, loads off
    assert "rescore" not in (tmp_path / THRESHOLDS_FILE).read_text()
    assert load_grammar_thresholds(tmp_path).rescore_top == 0


def test_real_people_into_a_grammar_that_holds_their_sentences(tmp_path):
    """The shipped model's default front end (its calibrated override and rescoring) on the five
    real LibriVox recordings, with their sentences added to the command grammar as a user adds
    commands: every one transcribed exactly (the CTC, trained on espeak only, must not talk
    pocketsphinx out of a real person's words)."""
    from pathlib import Path
    from tristream_ros.data.language import all_queries
    from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
    from tristream_ros.model.speech.frontend import configured_frontend
    from tristream_ros.model.text_tokenizer import normalize
    from tristream_ros.training.evaluate import load_recognizer, load_speech_model
    from tristream_ros.model.checkpoint import load_config
    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    thresholds = load_grammar_thresholds(demo)
    assert thresholds.rescore_top > 0  # the shipped front end rescores
    refs = [normalize(open(p[:-4] + ".txt").read()) for p in SPEECH]
    sentences = tmp_path / "commands.txt"
    sentences.write_text("\n".join(all_queries() + refs) + "\n")
    tok = configured_frontend("hybrid", load_speech_model(demo, load_config(demo)), vocabulary=str(sentences),
                              ctc_grammar=str(sentences), thresholds=thresholds,
                              recognizer=load_recognizer(demo))  # as the speech node builds it
    utts = [tok.transcribe(np.concatenate([np.zeros(8000, np.float32), _read(p), np.zeros(12000, np.float32)]))
            for p in SPEECH]
    assert [u.text for u in utts] == refs
    assert all(u.understood for u in utts)  # in the grammar: the out-of-domain rejection leaves them alone


def test_one_scoring_serves_the_override_and_the_rescoring():
    """The hybrid scores once: `match` of a longer `top` list is `best`, and `rescore_candidates`
    of it is the shorter `top` list with pocketsphinx's sentence."""
    from tristream_ros.model.speech.ctc_grammar import rescore_candidates
    scorer = CtcSentenceScorer(SENTENCES)
    lp = spelled("go to the red ball")
    for heard in ("stop", "go to the red ball", "", "not a sentence"):
        ranked = scorer.top(lp, 4, extra=(heard,))
        assert scorer.match(ranked, heard) == scorer.best(lp, other=heard)
        assert rescore_candidates(ranked, 2, heard) == scorer.top(lp, 2, extra=(heard,))


def test_out_of_domain_rule_needs_both_recognizers_to_fail():
    from tristream_ros.model.speech.ctc_grammar import not_understood
    t = GrammarThresholds(-0.4, 0.0, 0.8, reject_ctc_below=-0.5, reject_gap_below=-3e-4)
    assert t.rejects and not GrammarThresholds().rejects
    assert not_understood(-0.7, -1e-3, t)  # neither vouches: rejected
    assert not not_understood(-0.3, -1e-3, t)  # the CTC knows the voice and the sentence
    assert not not_understood(-0.7, 1e-4, t)  # pocketsphinx's alignment explains the audio
    assert not not_understood(-9.0, -9.0, GrammarThresholds())  # off by default


def test_weighted_sum_rule_lets_a_wide_gap_outweigh_a_low_score(tmp_path):
    """Session 14's form: CTC score + weight x gap under the bound. A real command the CTC
    scores as low as real chatter is kept by its small gap; chatter with a wide gap is rejected
    though its CTC score is no lower (the numbers of goforward.wav / numbers.wav with the
    separate recogniser)."""
    import json
    from tristream_ros.model.speech.ctc_grammar import THRESHOLDS_FILE, load_grammar_thresholds, not_understood
    from tristream_ros.model.speech.ctc_grammar import save_grammar_thresholds
    t = GrammarThresholds(-0.4, 0.0, 0.8, reject_ctc_below=-0.35, reject_gap_weight=500.0,
                          reject_combined_below=-1.15)
    assert t.rejects and t.rejects_combined and not t.rejects_box
    assert t.may_reject(-0.5) and not t.may_reject(-0.2)  # the gap is only measured under the CTC gate
    assert not not_understood(-0.63, -4.1e-4, t)  # -0.835: kept
    assert not_understood(-0.66, -1.06e-3, t)  # -1.19: rejected
    assert not not_understood(-0.2, -3e-3, t)  # the CTC sure of its sentence: not tested (the sum: -1.7)
    assert not GrammarThresholds(reject_gap_weight=500.0, reject_combined_below=-1.15).rejects  # no gate: off
    assert not t.without_rejection().rejects and t.without_rejection().min_lead == 0.8
    box = GrammarThresholds(reject_ctc_below=-0.5, reject_gap_below=-3e-4)
    assert box.may_reject(-0.6) and not box.may_reject(-0.4)
    both = GrammarThresholds(reject_ctc_below=-0.5, reject_gap_below=-3e-4, reject_gap_weight=500.0,
                             reject_combined_below=-1.15)
    assert not_understood(-0.6, -4e-4, both) and not_understood(-1.2, 0.0, both)  # the box; the sum alone
    assert not not_understood(-0.9, -2e-4, both)
    save_grammar_thresholds(tmp_path, t)
    body = json.loads((tmp_path / THRESHOLDS_FILE).read_text())
    assert "reject_gap_below" not in body and body["reject_gap_weight"] == 500.0  # only finite fields written
    assert load_grammar_thresholds(tmp_path) == t
    body["reject_gap_weight"] = -1.0
    (tmp_path / THRESHOLDS_FILE).write_text(json.dumps(body))
    with pytest.raises(ModelFileError):
        load_grammar_thresholds(tmp_path)


def test_rejection_settings_travel_with_the_model_folder(tmp_path):
    from tristream_ros.model.speech.ctc_grammar import THRESHOLDS_FILE, load_grammar_thresholds, save_grammar_thresholds
    t = GrammarThresholds(-0.4, 0.0, 0.8, 0.042, 0.1, rescore_top=3, rescore_weight=500.0, rescore_bonus=0.2,
                          rescore_length=5.0, reject_ctc_below=-0.55, reject_gap_below=-3e-4)
    save_grammar_thresholds(tmp_path, t)
    assert load_grammar_thresholds(tmp_path) == t
    save_grammar_thresholds(tmp_path, GrammarThresholds(-0.4, 0.0, 0.8))  # off: not written, loads off
    assert "reject" not in (tmp_path / THRESHOLDS_FILE).read_text()
    assert not load_grammar_thresholds(tmp_path).rejects


def test_rejection_calibration_rejects_no_in_domain_utterance():
    from tristream_ros.training.calibrate_grammar import (rejection_candidates, kept, reject_search, rejected,
                                                          rejection_fields)

    def rec(query, ctc, align, phone, ps="halt"):  # the override fires (min_score -9): chosen = ctc_best
        return {"query": query, "heard": ps, "pocketsphinx": ps, "ctc_best": query, "score": ctc,
                "margin": 1.0, "lead": 1.0, "pocketsphinx_score": 1.0, "candidates": [[query, ctc, align]],
                "phone_loop": phone}
    th = (-9.0, 0.0, 0.0, float("-inf"), float("inf"), 0, 0.0, 0.0, 0.0)
    val = [rec("turn left", -0.2, -3e-3, -3.2e-3), rec("stop", -0.6, -2.5e-3, -2.4e-3)]  # espeak-like, real-like
    guard = [rec("go forward", -0.7, -2.0e-3, -2.1e-3)]
    ood = [rec("stop", -0.7, -4e-3, -2.5e-3), rec("turn left", -0.65, -3.5e-3, -2.6e-3),
           rec("go forward", -0.2, -5e-3, -2.5e-3)]  # the last: the CTC vouches for it, never rejected
    for r in ood:
        r["query"] = "something else entirely"
    res = reject_search(val, guard, ood, th)
    t = (*th, *rejection_fields(res))
    assert kept(val, *t) == 1.0 and kept(guard, *t) == 1.0
    assert rejected(ood[0], *t) and rejected(ood[1], *t)
    # the box form alone: the CTC vouches for the last one (score -0.2), never rejected by it
    box = [(form, f) for form, f, _ in rejection_candidates() if form == "box"]
    assert not any(rejected(ood[2], *th, *f) for _, f in box)
    # nothing to reject without breaking val: stays off
    assert reject_search(val, guard, [rec("stop", -0.6, -2.5e-3, -2.4e-3)], th)["reject_form"] is None
    # a misheard val utterance is in-domain too: never rejected either
    misheard = rec("turn left", -0.65, -3.5e-3, -2.6e-3)
    misheard["query"] = "turn right"
    res = reject_search(val + [misheard], guard, ood, th)
    assert not rejected(misheard, *th, *rejection_fields(res))
    # real out-of-domain speech counts half: no box takes both real recordings (one with a wide
    # gap, one the CTC scores very low) without the real-like val utterance at CTC -0.62 / gap
    # -6e-4; the weighted sum passes under it, and the search then prefers it
    val2 = val + [rec("go forward", -0.62, -3.0e-3, -2.4e-3)]
    real = [rec("stop", -0.55, -4.0e-3, -1.5e-3), rec("stop", -0.9, -2.9e-3, -2.4e-3)]  # gaps -2.5e-3, -5e-4
    res = reject_search(val2, guard, ood, th, real)
    t = (*th, *rejection_fields(res))
    assert res["reject_form"] == "weighted_sum" and res["real_out_of_domain_rejected"] == 1.0
    assert kept(val2, *t) == 1.0 and kept(guard, *t) == 1.0
    without = (*th, *rejection_fields(reject_search(val2, guard, ood, th)))
    assert not all(rejected(r, *without) for r in real)  # chosen on synthetic speech alone, a real one gets through
    # the sum's CTC gate is as low as it can be without changing a decision on the records
    assert res["reject_ctc_below"] == 0.0  # ood[2] (CTC -0.2) is rejected by the sum: no lower gate keeps it
    assert all(rejected(r, *th, 0.0, *rejection_fields(res)[1:]) == rejected(r, *t) for r in val2 + guard + ood + real)


def test_the_sums_gate_changes_no_decision():
    from tristream_ros.training.calibrate_grammar import tightest_gate
    th = (-9.0, 0.0, 0.0, float("-inf"), float("inf"), 0, 0.0, 0.0, 0.0)
    fields = (0.0, float("-inf"), 500.0, -1.15)
    # rejected at CTC -0.55 (sum -2.05), kept at -0.2 / gap 0 and at -0.9 / gap 0 (sum -0.9)
    assert tightest_gate([(-0.55, -3e-3), (-0.2, 0.0), (-0.9, 0.0)], th, fields) == -0.5
    assert tightest_gate([(-0.2, -3e-3)], th, fields) == 0.0  # a sure CTC, rejected by the sum: ungated


def test_calibration_replays_recorded_utterances(tmp_path):
    """--records re-chooses from a previous run's records (no recording): the same choice."""
    import json
    from tristream_ros.training.calibrate_grammar import choose, main, replay

    def rec(source, query, ctc, align, phone):
        return {"source": source, "query": query, "heard": query, "pocketsphinx": query, "ctc_best": query,
                "score": ctc, "margin": 1.0, "lead": 1.0, "pocketsphinx_score": 1.0,
                "candidates": [[query, ctc, align]], "phone_loop": phone}
    val = [rec("val:m1", "turn left", -0.2, -3e-3, -3.2e-3), rec("val:f2", "stop", -0.6, -2.5e-3, -2.4e-3)]
    guard = [rec("flite:kal", "go forward", -0.7, -2.0e-3, -2.1e-3)]
    ood = [rec("ood:espeak:m3", "stop", -0.7, -4e-3, -2.5e-3), rec("ood:flite:awb", "turn left", -0.65, -3.5e-3, -2.6e-3)]
    real = [rec("real:cards_005.wav", "stop", -0.75, -4e-3, -2.4e-3)]
    f = tmp_path / "calib.json"
    f.write_text(json.dumps({"model": "m", "data": "d", "flite_seed": 1, "records": val + guard + ood + real}))
    res = replay(str(f))
    assert res["real_out_of_domain_utterances"] == 1 and res["chosen"] == choose(val, guard, ood, real)["chosen"]
    assert replay(str(f), reject=False)["chosen"].get("reject_form") is None
    model = tmp_path / "model"
    model.mkdir()
    assert main(["--model", str(model), "--records", str(f), "--write", "--out", str(tmp_path / "o.json")]) == 0
    written = json.loads((model / "ctc_grammar.json").read_text())
    assert written["source"]["replayed_from"] == str(f) and written["source"]["data"] == "d"
    with pytest.raises(SystemExit):
        main(["--model", str(model)])  # neither --data nor --records


def test_every_guard_family_stays_as_exact_as_pocketsphinx_alone():
    """A gain on one family of the guard (flite) does not pay for a loss on another (pico): the
    override that breaks a pico utterance is not chosen, though the guard as a whole would keep."""
    from tristream_ros.training.calibrate_grammar import chosen, grid_search, guard_groups, guard_kept, thresholds_of

    def rec(source, query, ps, ctc):  # the CTC is sure (score -0.2, margin 0.5, lead 1.0) of `ctc`
        return {"source": source, "query": query, "heard": ps, "pocketsphinx": ps, "ctc_best": ctc, "score": -0.2,
                "margin": 0.5, "lead": 1.0, "pocketsphinx_score": 1.0, "candidates": []}
    val = [rec("val:m1", "turn left", "stop", "turn left")]
    flite = [rec("flite:kal", "go back", "go forward", "go back")]  # the override fixes it
    pico = [rec("pico:en-US", "stop", "stop", "go back")]  # the override breaks it
    never = (float("inf"),) * 3
    groups = guard_groups(flite + pico)
    assert set(groups) == {"flite", "pico"}
    base = {g: float(chosen(rs[0], *never) == rs[0]["query"]) for g, rs in groups.items()}
    on = (-0.3, 0.0, 0.8)
    assert not guard_kept(groups, base, *on) and guard_kept({"flite": flite}, {"flite": 0.0}, *on)
    res = grid_search(val, flite + pico)
    with_pico = res["chosen"]
    assert with_pico["val_exact"] == 0.0 and chosen(pico[0], *thresholds_of(with_pico)) == "stop"
    assert res["pocketsphinx_only"]["guard_exact_by_family"] == {"flite": 0.0, "pico": 1.0}
    assert with_pico["guard_exact_by_family"] == {"flite": 0.0, "pico": 1.0}  # what each family got
    assert grid_search(val, flite)["chosen"]["val_exact"] == 1.0  # without pico's family, the override pays


def test_calibration_replays_a_chosen_part_of_the_recorded_guard(tmp_path):
    """--records with --guard-engines/--guard-rooms re-chooses with those families of the guard
    only; a family that was not recorded, or an engine that does not exist, is a clear error."""
    import json
    from tristream_ros.training.calibrate_grammar import main, replay

    def rec(source, query, ps, ctc):
        return {"source": source, "query": query, "heard": ps, "pocketsphinx": ps, "ctc_best": ctc, "score": -0.2,
                "margin": 0.5, "lead": 1.0, "pocketsphinx_score": 1.0, "candidates": []}
    recs = [rec("val:m1", "turn left", "stop", "turn left"), rec("flite:kal", "go back", "go back", "go back"),
            rec("pico:en-US", "stop", "stop", "stop"), rec("pico-room:en-US", "stop", "stop", "go back")]
    f = tmp_path / "calib.json"
    f.write_text(json.dumps({"model": "m", "data": "d", "guard_seed": 1, "records": recs}))
    every = replay(str(f))
    assert every["guard_families"] == {"flite": 1, "pico": 1, "pico-room": 1} and every["guard_rooms"]
    assert every["chosen"]["val_exact"] == 0.0  # the room's utterance keeps the override off
    clean = replay(str(f), guard_engines=("flite", "pico"), guard_rooms=False)
    assert clean["guard_families"] == {"flite": 1, "pico": 1} and clean["guard_engines"] == ["flite", "pico"]
    assert clean["chosen"]["val_exact"] == 1.0
    with pytest.raises(ValueError, match="festival"):
        replay(str(f), guard_engines=("festival",), guard_rooms=False)
    model = tmp_path / "model"
    model.mkdir()
    assert main(["--model", str(model), "--records", str(f), "--guard-engines", "festival"]) == 2
    with pytest.raises(SystemExit):
        main(["--model", str(model), "--records", str(f), "--guard-engines", "espeak"])
    assert main(["--model", str(model), "--records", str(f), "--guard-engines", "flite,pico", "--guard-rooms", "off",
                 "--write"]) == 0
    source = json.loads((model / "ctc_grammar.json").read_text())["source"]
    assert source["guard_families"] == {"flite": 1, "pico": 1} and source["guard_n"] == 1 and not source["guard_rooms"]


def test_guard_records_speak_every_voice_of_an_engine_clean_and_in_a_room():
    """The guard set is recorded through the real front end (shipped model, override off): each
    of Pico's voices speaks the held-out-phrasing query clean and in a test-split room, as two
    families of records the calibration holds on their own."""
    from pathlib import Path
    from tristream_ros.model.checkpoint import load_config
    from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
    from tristream_ros.model.text_tokenizer import normalize
    from tristream_ros.training.calibrate_grammar import guard_groups, guard_records
    from tristream_ros.training.evaluate import build_frontend, load_speech_model
    from tristream_ros.training.evaluate_tts import tts_queries
    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    tok = build_frontend(load_speech_model(demo, load_config(demo)), "hybrid", recognizer_dir=demo)
    tok.thresholds = NEVER_OVERRIDE
    recs = guard_records(tok, ("pico",), 1, 1, rooms=True, progress=False)
    query = normalize(tts_queries(1, 1)[0]["query"])
    assert sorted(r["source"] for r in recs) == ["pico-room:en-GB", "pico-room:en-US", "pico:en-GB", "pico:en-US"]
    assert set(guard_groups(recs)) == {"pico", "pico-room"} and {r["query"] for r in recs} == {query}
    assert all(r["ctc_best"] and r["candidates"] and r["frames"] > 0 for r in recs)
    by = {r["source"]: r for r in recs}
    clean, room = by["pico:en-US"], by["pico-room:en-US"]
    assert clean["heard"] == query  # Pico's clean voice is heard exactly (0.979 of the 48 guard utterances)
    assert (clean["frames"], clean["score"]) != (room["frames"], room["score"])  # the room changes what is heard


def test_real_out_of_domain_recordings_are_split_for_calibration():
    from tristream_ros.data.out_of_domain import real_utterances
    cal, held = real_utterances("calibration"), real_utterances("heldout")
    names = {u["source"] for u in cal}
    assert names and not names & {u["source"] for u in held}
    # the recordings the shipped front end is tested on below stay out of the calibration
    assert {"numbers.wav", "something.wav", "tidigits_2934z.wav"} <= {u["source"] for u in held}
    assert all(u["audio"].dtype == np.float32 and u["audio"].ndim == 1 for u in cal)
    with pytest.raises(ValueError):
        real_utterances("train")


def test_out_of_domain_sentences_are_not_queries():
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.out_of_domain import SENTENCES, sentences
    q = set(all_queries())
    assert not [s for s in SENTENCES if s in q]
    cal, held = sentences("calibration"), sentences("heldout")
    assert not set(cal) & set(held) and len(cal) + len(held) == len(SENTENCES)
    with pytest.raises(ValueError):
        sentences("train")


def test_shipped_front_end_acts_on_a_real_command_and_rejects_real_speech_outside_the_grammar():
    """Real people (tristream_ros/data/recordings, pocketsphinx's test recordings) through the
    shipped model's default front end and model, no camera: "go forward ten meters" is heard as
    "go forward" and drives forward; digits and a sentence outside the domain are heard as some
    command of the grammar (a closed grammar always finds one) but marked not understood, so no
    query is made of them."""
    from pathlib import Path
    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.training.evaluate import build_frontend, run_query
    from tristream_ros.training.evaluate_domain import RECORDINGS_DIR
    from tristream_ros.training.ship import load_shipped
    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    model, speech = load_shipped(demo)
    tok = build_frontend(speech, "hybrid", demo)
    assert tok.thresholds.rejects
    utt = tok.transcribe(read_wav(RECORDINGS_DIR / "goforward.wav"))
    assert utt.understood and utt.text == "go forward"
    pred = run_query(model, utt.text, utt.tokens, None, None, dense=False, camera=False)
    assert pred["action"] == "forward" and pred["vision_calls"] == 0
    for name in ("something.wav", "tidigits_2934z.wav"):
        utt = tok.transcribe(read_wav(RECORDINGS_DIR / name))
        assert utt.text and not utt.understood, (name, utt.text, tok.last_rejection)


@pytest.mark.xfail(strict=True, reason=(
    "known failure of the session-19 recogniser (README, docs/status.md): real digits read aloud "
    "(numbers.wav, held out of the calibration) are heard as 'turn to your left now' with CTC score "
    "-0.51 and gap -1.0e-3 per frame, a weighted sum of -1.01, above an in-domain val utterance's "
    "-1.05, so no calibrated threshold rejects it; session 13's recogniser scored it -0.66 (sum "
    "-1.16, rejected). A second vote from the phase-2 CTC or the old recogniser did not separate it "
    "either (-0.66 / -0.72 per frame; in-domain val goes down to -1.24 / -1.03). Strict: when a "
    "front end rejects it again, this test fails and the xfail comes off."))
def test_shipped_front_end_rejects_real_digits_read_aloud():
    from pathlib import Path

    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_domain import RECORDINGS_DIR
    from tristream_ros.training.ship import load_shipped
    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    _, speech = load_shipped(demo)
    tok = build_frontend(speech, "hybrid", demo)
    utt = tok.transcribe(read_wav(RECORDINGS_DIR / "numbers.wav"))
    assert utt.text and not utt.understood, (utt.text, tok.last_rejection)


def test_rejection_keeps_its_margin_from_the_in_domain_records():
    """Session 25: the rejection does not sit at val's edge. With the margin, every val and
    guard record stays at least REJECT_MARGIN above the weighted sum's threshold; without it
    the search may put the threshold right under the nearest one."""
    from tristream_ros.training.calibrate_grammar import (REJECT_MARGIN, rejected, rejection_fields,
                                                          reject_search)

    def rec(query, ctc, align, phone):
        return {"query": query, "heard": "halt", "pocketsphinx": "halt", "ctc_best": query, "score": ctc,
                "margin": 1.0, "lead": 1.0, "pocketsphinx_score": 1.0, "candidates": [[query, ctc, align]],
                "phone_loop": phone}
    th = (-9.0, 0.0, 0.0, float("-inf"), float("inf"), 0, 0.0, 0.0, 0.0)
    # in-domain: sums (weight 500) -0.2-0.05 = -0.25 and -0.6-0.3 = -0.9 (the nearest)
    val = [rec("turn left", -0.2, -3.1e-3, -3.0e-3), rec("stop", -0.6, -3.0e-3, -2.4e-3)]
    # out of domain at sums -0.95 (just past val's edge), -1.3 and -2.0
    ood = [rec("stop", -0.7, -3.0e-3, -2.5e-3), rec("stop", -0.8, -3.5e-3, -2.5e-3),
           rec("stop", -1.0, -4.0e-3, -2.0e-3)]
    for r in ood:
        r["query"] = "something else entirely"
    edge = reject_search(val, [], ood, th, margin=0.0)
    safe = reject_search(val, [], ood, th)
    assert safe["reject_margin"] == REJECT_MARGIN > 0.0
    for res in (edge, safe):
        assert not any(rejected(r, *th, *rejection_fields(res)) for r in val)
    # at the edge the closest out-of-domain record is taken too; with the margin it is not
    assert all(rejected(r, *th, *rejection_fields(edge)) for r in ood)
    t = (*th, *rejection_fields(safe))
    assert not rejected(ood[0], *t) and rejected(ood[2], *t)
    assert safe["reject_combined_below"] <= -0.9 - REJECT_MARGIN + 1e-9
    # a margin too wide for every candidate leaves the rejection off
    assert reject_search(val, [], ood, th, margin=5.0)["reject_form"] is None


def test_calibration_refuses_a_negative_rejection_margin(capsys):
    import pytest

    from tristream_ros.training.calibrate_grammar import main
    with pytest.raises(SystemExit):
        main(["--model", "x", "--records", "y.json", "--reject-margin", "-0.1"])
    assert "negative" in capsys.readouterr().err
