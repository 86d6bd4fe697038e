"""The speech front end assembled from names, as the speech_tokenizer_node's parameters give
them; `tristream eval`, the latency bench and the node all build it here, so what is measured
is what runs.

    frontend      hybrid (pocketsphinx text + our encoder's tokens and CTC grammar) | ctc |
                  pocketsphinx
    vocabulary    pocketsphinx's sentences: queries | domain | none | PATH (data.language.sentences_for)
    mode          grammar (JSGF of the sentences) | lm (bigram LM over them)
    ctc_grammar   hybrid only: the sentences our CTC scores at end of utterance, same names
"""
from __future__ import annotations

from tristream_ros.errors import InputError
from tristream_ros.model.speech.ctc_grammar import (GRAMMAR_MIN_LEAD, GRAMMAR_MIN_MARGIN, GRAMMAR_MIN_SCORE,
                                                    GRAMMAR_UNSURE_BELOW, GRAMMAR_UNSURE_MIN_LEAD,
                                                    CtcSentenceScorer)
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.speech.tokenizer import SpeechTokenizer, build_speech_tokenizer

FRONTEND_NAMES = ("hybrid", "ctc", "pocketsphinx")


def configured_frontend(frontend: str = "hybrid", model: SpeechModel | None = None, *,
                        vocabulary: str = "queries", mode: str = "grammar", vad=None,
                        ctc_grammar: str = "queries", grammar_min_score: float = GRAMMAR_MIN_SCORE,
                        grammar_min_margin: float = GRAMMAR_MIN_MARGIN,
                        grammar_min_lead: float = GRAMMAR_MIN_LEAD,
                        grammar_unsure_below: float = GRAMMAR_UNSURE_BELOW,
                        grammar_unsure_min_lead: float = GRAMMAR_UNSURE_MIN_LEAD) -> SpeechTokenizer:
    """The SpeechTokenizer named by the node's parameters (defaults: the node's defaults)."""
    from tristream_ros.data.language import sentences_for
    from tristream_ros.model.speech.pocketsphinx_frontend import DomainVocabulary, PocketsphinxConfig

    if frontend not in FRONTEND_NAMES:
        raise InputError(f"unknown speech frontend {frontend!r}; expected one of {FRONTEND_NAMES}")
    ps = None
    if frontend != "ctc":
        sentences = sentences_for(vocabulary)
        ps = PocketsphinxConfig(DomainVocabulary(sentences, mode) if sentences else None)
    grammar = None
    if frontend == "hybrid":
        g_sentences = sentences_for(ctc_grammar)
        grammar = CtcSentenceScorer(g_sentences) if g_sentences else None
    return build_speech_tokenizer(frontend, model, ps, vad, grammar=grammar, grammar_min_score=grammar_min_score,
                                  grammar_min_margin=grammar_min_margin, grammar_min_lead=grammar_min_lead,
                                  grammar_unsure_below=grammar_unsure_below,
                                  grammar_unsure_min_lead=grammar_unsure_min_lead)
