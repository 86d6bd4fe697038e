"""The speech front end assembled from names, as the speech_tokenizer_node's parameters give
them; `tristream eval`, the latency bench and the node all build it here, so what is measured
is what runs.

    frontend      hybrid (pocketsphinx text + our encoder's tokens and CTC grammar) | ctc |
                  pocketsphinx
    vocabulary    pocketsphinx's sentences: queries | templates | domain | none | PATH (data.language.sentences_for)
    mode          grammar (JSGF of the sentences) | lm (bigram LM over them)
    ctc_grammar   hybrid only: the sentences our CTC scores at end of utterance, same names
    confirm_short_forms  hybrid only: a short form ("left") is understood only when pocketsphinx
                  heard it itself or our CTC is sure of it (HybridSpeechTokenizer.confirm)
    tokens_from   hybrid only: respoken (the final sentence spoken by a training voice, encoded:
                  model/speech/respoken.py) | audio (the user's own audio, encoded)
    (always)      data/language.SPOKEN_ALIASES: a heard alias ("move left") is forwarded as the
                  trained sentence it means ("turn left"); with the queries vocabulary only
                  the grammar holds them
    command_wrappers  grammar mode: an optional prefix / suffix ("robot", "okay", "please",
                  "can you" ... / "please", "now", "thanks") around any sentence, dropped before
                  the model (model/speech/command_wrappers.py: "robot stop" -> "stop")
    wrapper_process  with command_wrappers: their pocketsphinx decoder runs in a child process
                  (model/speech/decoder_process.py), not under this process's GIL
    voice_gate    hybrid only: the model's voice gate (model/speech/voice_gate.py): our CTC, which
                  only ever heard espeak voices, overrides pocketsphinx only for espeak-like voices
"""
from __future__ import annotations

from tristream_ros.errors import InputError
from tristream_ros.model.speech.command_wrappers import COMMAND_WRAPPERS_DEFAULT
from tristream_ros.model.speech.ctc_grammar import CtcSentenceScorer, GrammarThresholds
from tristream_ros.model.speech.decoder_process import WRAPPER_PROCESS_DEFAULT
from tristream_ros.model.speech.speech_model import SpeechModel
from tristream_ros.model.speech.tokenizer import SpeechTokenizer, build_speech_tokenizer

FRONTEND_NAMES = ("hybrid", "ctc", "pocketsphinx")
TOKEN_SOURCES = ("respoken", "audio")


def configured_frontend(frontend: str = "hybrid", model: SpeechModel | None = None, *,
                        vocabulary: str = "queries", mode: str = "grammar", vad=None,
                        ctc_grammar: str = "queries", thresholds: GrammarThresholds | None = None,
                        tokens_from: str = "respoken", beam: float | None = None,
                        recognizer: SpeechModel | None = None, confirm_short_forms: bool = True,
                        command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT,
                        wrapper_process: bool = WRAPPER_PROCESS_DEFAULT,
                        voice_gate=None) -> SpeechTokenizer:
    """The SpeechTokenizer named by the node's parameters (defaults: the node's defaults;
    thresholds: the CTC-grammar override's, None = the module defaults; beam: pocketsphinx's
    search beam over the vocabulary, None = DOMAIN_BEAM, 0 = pocketsphinx's defaults;
    recognizer: a SpeechModel whose CTC recognises while `model` encodes the respoken sentence,
    used by the hybrid with respoken tokens only, else `model` does both; confirm_short_forms: the
    hybrid understands a SHORT_FORMS sentence only when pocketsphinx heard it itself or our CTC is
    sure of it; command_wrappers: the grammar lets "robot", "please", "can you" ... wrap its
    sentences and the front end forwards the sentence inside; on by default since session 28;
    wrapper_process: their decoder runs in a child process, decoder_process.py, since session 30;
    voice_gate: hybrid only, a voice_gate.VoiceGate: our CTC overrides or rescores pocketsphinx's
    sentence only for voices it judges espeak-like, None = always, as before session 31)."""
    from tristream_ros.data.language import SPOKEN_ALIASES, all_queries, sentences_for
    from tristream_ros.model.speech.command_wrappers import CommandWrappers
    from tristream_ros.model.speech.pocketsphinx_frontend import DOMAIN_BEAM, DomainVocabulary, PocketsphinxConfig

    if frontend not in FRONTEND_NAMES:
        raise InputError(f"unknown speech frontend {frontend!r}; expected one of {FRONTEND_NAMES}")
    if tokens_from not in TOKEN_SOURCES:
        raise InputError(f"unknown speech token source {tokens_from!r}; expected one of {TOKEN_SOURCES}")
    ps = None
    if frontend != "ctc":
        sentences = sentences_for(vocabulary)
        beam = DOMAIN_BEAM if beam is None else (None if beam == 0 else float(beam))
        ps = PocketsphinxConfig(DomainVocabulary(sentences, mode) if sentences else None, beam=beam)
    grammar = respoken = None
    if frontend == "hybrid" and tokens_from == "respoken" and model is not None:
        from tristream_ros.model.speech.respoken import RespokenTokens
        respoken = RespokenTokens(model)
    if frontend == "hybrid":
        g_sentences = sentences_for(ctc_grammar)
        grammar = CtcSentenceScorer(g_sentences) if g_sentences else None
    # short forms and aliases: heard only on pocketsphinx's own word or a sure CTC, never wrapped
    bare = all_queries("short") + all_queries("alias")
    confirm = bare if frontend == "hybrid" and confirm_short_forms else ()
    return build_speech_tokenizer(frontend, model, ps, vad, grammar=grammar, thresholds=thresholds,
                                  respoken=respoken, recognizer=recognizer if respoken is not None else None,
                                  confirm=confirm,
                                  wrappers=CommandWrappers(bare_only=frozenset(bare))
                                  if command_wrappers and mode == "grammar" else None,
                                  wrapper_process=wrapper_process, aliases=SPOKEN_ALIASES,
                                  voice_gate=voice_gate if frontend == "hybrid" else None)
