"""CTC sentence scoring (model/speech/ctc_grammar.py) and its use in the hybrid front end: the
best sentence wins clearly when the posteriors spell it, nothing wins clearly on noise, and the
hybrid tokenizer overrides pocketsphinx only past both thresholds."""
import glob
import wave

import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.ctc_grammar import CtcSentenceScorer
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
    tok = HybridSpeechTokenizer(model, grammar=CtcSentenceScorer(SENTENCES), grammar_min_score=min_score,
                                grammar_min_margin=-1e9, grammar_min_lead=-1e9)
    utt = tok.transcribe(np.concatenate([np.zeros(8000, np.float32), _read(SPEECH[4]), np.zeros(12000, np.float32)]))
    assert tok.last_match is not None and tok.last_match.text in SENTENCES
    if expect_grammar:
        assert utt.text == tok.last_match.text
    else:  # a real recording, untrained encoder: pocketsphinx's words stand
        assert utt.text == tok.last_pocketsphinx_text and utt.text.split()[:2] == ["he", "might"]


def test_lead_over_another_recognizers_sentence():
    scorer = CtcSentenceScorer(SENTENCES)
    lp = spelled("turn left")
    assert scorer.best(lp, other="turn right").lead > 0.5
    assert scorer.best(lp, other="turn left").lead == 0.0
    assert scorer.best(lp, other="something else entirely").lead == float("inf")
    assert scorer.best(lp).lead == float("inf")
