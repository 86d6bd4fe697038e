"""speech_tokenizer_node: microphone AudioChunks -> live transcript + speech tokens.

Subscribes ``audio/input`` (tristream_ros/AudioChunk, sensor-data QoS by default) and streams
the audio through a ``SpeechTokenizer`` (silero-vad segmentation; pocketsphinx and/or our
streaming encoder + CTC + adapter) while the user speaks. Publishes on

  ``speech/transcript`` (Transcript): a partial (``is_final`` false, empty text) as soon as the
      VAD hears speech start (the fusion node's barge-in signal), a partial each time the text
      changes, and the final transcript at end of utterance;
  ``speech/tokens`` (SpeechTokens): at end of utterance, the adapter's speech tokens and the
      final transcript (what the fusion node answers).

Stamps come from the audio: ``speech_start``/``speech_end`` are the capture stamps of the
boundary samples (interpolated inside their chunk); partials carry the stamp of the newest
sample covered; the final transcript and the tokens carry ``speech_end``.

The subscription callback only queues the chunk; a worker thread decodes, resamples to 16 kHz
and tokenizes, so a slow step never loses audio (queue depth and gaps in ``sequence`` are
reported on /diagnostics). A malformed chunk (bad format, odd byte count, NaN) is counted,
reported and skipped.

Parameters (config/tristream.yaml, ``speech_tokenizer_node``):
  model.path               checkpoint folder; the encoder weights are ``speech.weights`` in it
  speech.frontend          auto (hybrid when the encoder weights exist, else pocketsphinx) |
                           hybrid | ctc | pocketsphinx
  speech.weights           file name of the SpeechModel weights (speech.safetensors)
  pocketsphinx.vocabulary  queries (what users say to the assistant, short forms like "left"
                           included; 2.6x cheaper to decode than domain) | templates (the same
                           without the short forms) | domain (queries + answers) | none | PATH
  pocketsphinx.mode        grammar | lm
  pocketsphinx.beam        search beam over the vocabulary (default 1e-80, wider than
                           pocketsphinx's 1e-48, which lost every path for a quarter of the
                           held-out voices' queries; 0: pocketsphinx's defaults)
  speech.confirm_short_forms  hybrid: a short form (data/language.SHORT_FORMS: "left", "go ahead")
                           is understood only when pocketsphinx heard it itself or our CTC is sure
                           of it (tokenizer.CONFIRM_CTC_MIN; default true)
  speech.command_wrappers  grammar mode: an optional prefix / suffix people wrap around a command
                           ("robot", "okay", "please", "can you" ... / "please", "now", "thanks")
                           is heard and dropped: "robot stop" -> "stop" (model/speech/command_wrappers.py;
                           default true since session 28; false: one pocketsphinx search, about
                           half the front-end CPU per second of audio (x1.9 with them, session 29's
                           `tristream bench wrappers`), docs/training.md "Command wrappers")
  speech.wrapper_decoder_process  with speech.command_wrappers: their decoder runs in a child
                           process (model/speech/decoder_process.py), on the other core instead of
                           under this node's GIL (default true since session 30; the same words
                           either way); if the child dies the node says so (log + diagnostics
                           wrapper_decoder_failures) and decodes in its own process from then on
  speech.ctc_grammar       hybrid only: sentences our encoder's CTC scores at end of utterance
                           (queries | templates | domain | none | PATH); its best sentence replaces
                           pocketsphinx's text when it clears speech.ctc_grammar_min_score
                           (per-frame log-likelihood), speech.ctc_grammar_min_margin (lead over
                           the runner-up) and speech.ctc_grammar_min_lead (lead over the sentence
                           pocketsphinx heard; speech.ctc_grammar_unsure_min_lead instead when
                           pocketsphinx's acoustic score per frame is below
                           speech.ctc_grammar_unsure_below): speech like the encoder's training voices.
                           Otherwise, with speech.ctc_grammar_rescore_top > 0, the CTC's best
                           sentences and pocketsphinx's are re-ranked by CTC score +
                           speech.ctc_grammar_rescore_weight x pocketsphinx's alignment score +
                           speech.ctc_grammar_rescore_length x characters / frames
                           (+ speech.ctc_grammar_rescore_bonus for pocketsphinx's own sentence).
                           Defaults: model.path/ctc_grammar.json, the thresholds calibrated
                           for that model (model/speech/ctc_grammar.py's otherwise)
  speech.reject_out_of_domain  hybrid only (default true): an utterance neither model vouches for
                           (the CTC's best sentence under speech.ctc_grammar_reject_ctc_below per
                           frame AND either pocketsphinx's alignment of the chosen sentence
                           trailing its free phone loop by more than
                           -speech.ctc_grammar_reject_gap_below, or CTC score +
                           speech.ctc_grammar_reject_gap_weight x that gap under
                           speech.ctc_grammar_reject_combined_below) is
                           "not understood": its final transcript is published, but the speech
                           tokens go out empty with no transcript, so the fusion node answers
                           with an error and no action hint (the robot does not act on speech
                           outside its grammar). Counted as `not_understood` in diagnostics.
                           Thresholds: ctc_grammar.json's (off when it has none)
                           Quiet speech (an utterance peaking under -30 dBFS, quieter than any
                           training utterance) is heard by our encoder raised to -8 dBFS
                           (model/speech/tokenizer.QUIET_PEAK_DBFS); logged, counted as
                           `quiet_utterances` in diagnostics: raise the microphone's gain.
  speech.quiet_peak_dbfs   that threshold, dBFS (default -30; -120: off)
  speech.max_speech_s_per_phone  hybrid only: an utterance holding more speech (silero windows) than
                           this many seconds per phone of the sentence heard (with its wrapper
                           words), plus 0.2 s, is "not understood": a long utterance heard as a
                           short command (default 0.3, model/speech/tokenizer.SPEECH_S_PER_PHONE;
                           0: off). Logged, counted as `speech_unexplained_utterances`
  speech.wake_word         hybrid with command wrappers: a word that must open every utterance
                           acted on ("robot": "robot, turn left"; one of the wrapper prefixes'
                           words), for rooms where people talk near the robot; what is said
                           without it is not understood (`no_wake_word_utterances`). Default
                           "": none
  speech.tokens_from       hybrid only: respoken (default: the recognised sentence spoken by a
                           training espeak-ng voice and encoded, model/speech/respoken.py; the
                           model answers unfamiliar voices in noisy rooms better, docs/training.md)
                           | audio (the user's own audio encoded)
  speech.recognizer_weights  hybrid with respoken tokens: a second SpeechModel file in model.path
                           (default recognizer.safetensors, used when present; '' = off) whose CTC
                           does the recognising, while speech.weights encodes the respoken sentence
                           (training/recognizer.py: the encoder fine-tuned on more voices)
  vad.threshold, vad.min_silence_ms, vad.min_speech_ms, vad.speech_pad_ms
  vad.incomplete_hold_ms   when the VAD's end comes while pocketsphinx's partial is only the start
                           of a grammar sentence ("go to the ..."), the utterance is held open this
                           much longer (default 700 ms) for the user to go on; 0: never
  max_queue                chunks waiting before the oldest are dropped (counted)
  runtime.threads          torch threads
"""
from __future__ import annotations

import collections
import itertools
import os
import sys
import threading
from pathlib import Path

import numpy as np
import torch
from rclpy.node import Node

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.command_wrappers import COMMAND_WRAPPERS_DEFAULT
from tristream_ros.model.speech.decoder_process import WRAPPER_PROCESS_DEFAULT
from tristream_ros.model.speech.ctc_grammar import REJECT_OFF, GrammarThresholds, load_grammar_thresholds
from tristream_ros.model.speech.pocketsphinx_frontend import DOMAIN_BEAM
from tristream_ros.model.speech.speech_model import RECOGNIZER_FILE
from tristream_ros.model.speech.tokenizer import (MAKEUP_MAX_DB, MAKEUP_TARGET_DBFS, QUIET_PEAK_DBFS,
                                                  SPEECH_ALLOWANCE_S, SPEECH_S_PER_PHONE)
from tristream_ros.msg import AudioChunk, SpeechTokens, Transcript
from tristream_ros.ros.conversions import audio_chunk_to_numpy, ns_to_stamp, stamp_to_ns
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.model_files import (DEFAULT_MODEL_PATH, SPEECH_WEIGHTS_FILE, load_speech_model,
                                           resolve_model_path)
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import AUDIO_DEPTH, declare_qos
from tristream_ros.signal.audio_format import SAMPLE_RATE, StreamResampler, to_mono

AUDIO_TOPIC = "audio/input"
TRANSCRIPT_TOPIC = "speech/transcript"
TOKENS_TOPIC = "speech/tokens"
STAMP_HISTORY_S = 120.0  # s of chunk stamps kept to map stream time -> header stamps


class StampMap:
    """Stream sample index <-> capture stamps of the chunks they came in (pure logic)."""

    def __init__(self):
        self._chunks: collections.deque[tuple[int, int]] = collections.deque()  # (first sample, stamp ns)

    def add(self, first_sample: int, stamp_ns: int) -> None:
        self._chunks.append((first_sample, stamp_ns))
        while len(self._chunks) > 2 and self._chunks[1][0] < first_sample - STAMP_HISTORY_S * SAMPLE_RATE:
            self._chunks.popleft()

    def stamp_at(self, t_s: float) -> int:
        """Capture stamp (ns) of stream time ``t_s``: its chunk's stamp plus the offset inside it."""
        if not self._chunks:
            return 0
        sample = int(round(t_s * SAMPLE_RATE))
        best = self._chunks[0]
        for c in reversed(self._chunks):
            if c[0] <= sample:
                best = c
                break
        return best[1] + int((sample - best[0]) * 1e9 / SAMPLE_RATE)


def build_tokenizer(frontend: str, folder: Path | None, weights: str, vocabulary: str, mode: str, vad_cfg,
                    ctc_grammar: str = "none", thresholds: GrammarThresholds | None = None,
                    tokens_from: str = "respoken", beam: float | None = None, recognizer: str = "",
                    confirm_short_forms: bool = True, command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT,
                    wrapper_process: bool = WRAPPER_PROCESS_DEFAULT, voice_gate: bool = True):
    """-> (SpeechTokenizer, frontend actually used). beam: pocketsphinx's search beam (None: the
    default DOMAIN_BEAM, 0: pocketsphinx's own defaults). ctc_grammar (hybrid only): the sentence set
    our encoder's CTC scores at end of utterance (queries | templates | domain | none | PATH), with the
    override's `thresholds` (None: the module defaults); tokens_from (hybrid only): respoken | audio;
    recognizer (hybrid with respoken tokens): a second SpeechModel file in `folder` whose CTC
    recognises (used when present; '' = none); confirm_short_forms (hybrid): a short form ("left")
    is understood only when pocketsphinx heard it itself or our CTC is sure of it; command_wrappers
    (grammar mode): "robot", "please", "can you" ... around a sentence are heard and dropped, by a
    second decoder in a child process when wrapper_process (model/speech/decoder_process.py);
    voice_gate (hybrid): `folder`'s voice gate (model/speech/voice_gate.py) when it has one: our CTC
    overrides pocketsphinx only for voices like its espeak training voices."""
    from tristream_ros.model.speech.frontend import configured_frontend

    if frontend not in ("auto", "hybrid", "ctc", "pocketsphinx"):
        raise InputError(f"unknown speech.frontend {frontend!r}; expected auto | hybrid | ctc | pocketsphinx")
    model = None
    if frontend != "pocketsphinx":
        if folder is None:
            if frontend != "auto":
                raise ModelFileError(f"speech.frontend {frontend!r} needs model.path with {weights}")
        else:
            model = load_speech_model(folder, weights)
            if model is None and frontend != "auto":
                raise ModelFileError(f"speech.frontend {frontend!r} needs {folder / weights}, which does not exist")
    if frontend == "auto":
        frontend = "hybrid" if model is not None else "pocketsphinx"
    rec = None
    if recognizer and folder is not None and frontend == "hybrid" and tokens_from == "respoken":
        rec = load_speech_model(folder, recognizer)  # None when the folder has no such file
    gate = None
    if voice_gate and frontend == "hybrid" and folder is not None:
        from tristream_ros.model.speech.voice_gate import load_voice_gate
        gate = load_voice_gate(folder)  # None when the folder has none; a broken file raises
    return configured_frontend(frontend, model, vocabulary=vocabulary, mode=mode, vad=vad_cfg,
                               ctc_grammar=ctc_grammar, thresholds=thresholds, tokens_from=tokens_from,
                               beam=beam, recognizer=rec, confirm_short_forms=confirm_short_forms,
                               command_wrappers=command_wrappers, wrapper_process=wrapper_process,
                               voice_gate=gate), frontend


class SpeechTokenizerNode(Node):
    def __init__(self):
        super().__init__("speech_tokenizer_node")
        from tristream_ros.model.speech.vad import VadConfig

        model_path = param(self, "model.path", DEFAULT_MODEL_PATH, "checkpoint folder")
        frontend = str(param(self, "speech.frontend", "auto", "auto | hybrid | ctc | pocketsphinx"))
        weights = str(param(self, "speech.weights", SPEECH_WEIGHTS_FILE, "SpeechModel weights in model.path"))
        recognizer = str(param(self, "speech.recognizer_weights", RECOGNIZER_FILE,
                               "hybrid with respoken tokens: the SpeechModel whose CTC recognises, when model.path "
                               "has it ('' or absent: speech.weights recognises too)"))
        vocabulary = str(param(self, "pocketsphinx.vocabulary", "queries", "queries | templates | domain | none | PATH"))
        mode = str(param(self, "pocketsphinx.mode", "grammar", "grammar | lm"))
        beam = float(param(self, "pocketsphinx.beam", DOMAIN_BEAM,
                           "search beam over the vocabulary (0: pocketsphinx's defaults)"))
        ctc_grammar = str(param(self, "speech.ctc_grammar", "queries", "queries | templates | domain | none | PATH (hybrid)"))
        tokens_from = str(param(self, "speech.tokens_from", "respoken",
                                "hybrid: speech tokens of the recognised sentence spoken by a training voice "
                                "(respoken) or of the user's audio (audio)"))
        folder = None
        if frontend != "pocketsphinx":
            try:
                folder = resolve_model_path(model_path)
            except ModelFileError:
                if frontend != "auto":
                    raise
                self.get_logger().warning(f"model.path {model_path!r} not found: pocketsphinx-only front end")
        calibrated = load_grammar_thresholds(folder)  # the model's ctc_grammar.json, or the module defaults
        g_score = float(param(self, "speech.ctc_grammar_min_score", calibrated.min_score,
                              "per-frame log-likelihood a CTC sentence needs to replace pocketsphinx's text "
                              "(default: the model folder's ctc_grammar.json)"))
        g_margin = float(param(self, "speech.ctc_grammar_min_margin", calibrated.min_margin,
                               "per-frame log-likelihood lead over the runner-up sentence"))
        g_lead = float(param(self, "speech.ctc_grammar_min_lead", calibrated.min_lead,
                             "per-frame log-likelihood lead over the sentence pocketsphinx heard"))
        g_unsure = float(param(self, "speech.ctc_grammar_unsure_below", calibrated.unsure_below,
                               "pocketsphinx acoustic score per frame below which it counts as unsure (-inf: never)"))
        g_unsure_lead = float(param(self, "speech.ctc_grammar_unsure_min_lead", calibrated.unsure_min_lead,
                                    "the lead over pocketsphinx's sentence needed when it is unsure"))
        g_rescore = dict(
            rescore_top=int(param(self, "speech.ctc_grammar_rescore_top", calibrated.rescore_top,
                                  "CTC sentences pocketsphinx re-aligns when the override does not fire (0: off)")),
            rescore_weight=float(param(self, "speech.ctc_grammar_rescore_weight", calibrated.rescore_weight,
                                       "weight of pocketsphinx's alignment score per frame against the CTC's")),
            rescore_bonus=float(param(self, "speech.ctc_grammar_rescore_bonus", calibrated.rescore_bonus,
                                      "added to the sentence pocketsphinx heard itself")),
            rescore_length=float(param(self, "speech.ctc_grammar_rescore_length", calibrated.rescore_length,
                                       "reward per character of a candidate, per CTC frame")))
        g_reject = dict(
            reject_ctc_below=float(param(self, "speech.ctc_grammar_reject_ctc_below", calibrated.reject_ctc_below,
                                         "out of domain when the CTC's best sentence scores under this per frame "
                                         "(and the gap test fails; -inf: off)")),
            reject_gap_below=float(param(self, "speech.ctc_grammar_reject_gap_below", calibrated.reject_gap_below,
                                         "... and pocketsphinx's alignment minus its phone loop per frame is under "
                                         "this (-inf: off)")),
            reject_gap_weight=float(param(self, "speech.ctc_grammar_reject_gap_weight", calibrated.reject_gap_weight,
                                          "or out of domain when CTC score + this x the gap ...")),
            reject_combined_below=float(param(self, "speech.ctc_grammar_reject_combined_below",
                                              calibrated.reject_combined_below, "... is under this (-inf: off)")))
        if any(v != v for v in g_reject.values()) or not 0.0 <= g_reject["reject_gap_weight"] < float("inf"):
            raise InputError(f"speech.ctc_grammar_reject_* must be numbers (the gap weight finite and >= 0), "
                             f"got {g_reject}")
        if not bool(param(self, "speech.reject_out_of_domain", True,
                          "mark speech neither model vouches for as not understood (no query is made of it)")):
            g_reject = dict(REJECT_OFF)
        confirm = bool(param(self, "speech.confirm_short_forms", True,
                             "hybrid: a short form (\"left\", \"go ahead\") is understood only when pocketsphinx "
                             "heard it itself or our CTC is sure of it (score >= CONFIRM_CTC_MIN)"))
        wrappers = bool(param(self, "speech.command_wrappers", COMMAND_WRAPPERS_DEFAULT,
                              "grammar mode: \"robot\", \"okay\", \"please\", \"can you\" ... around a command are "
                              "heard and dropped (\"robot stop\" -> \"stop\")"))
        wrapper_process = bool(param(self, "speech.wrapper_decoder_process", WRAPPER_PROCESS_DEFAULT,
                                     "speech.command_wrappers: their pocketsphinx decoder runs in a child process "
                                     "(on another core; pocketsphinx holds the GIL), false: in this one"))
        voice_gate = bool(param(self, "speech.voice_gate", True,
                                "hybrid: our CTC (trained on espeak voices only) overrides pocketsphinx's sentence "
                                "only for voices the model folder's voice_gate.json judges espeak-like"))
        if g_rescore["rescore_top"] < 0:
            raise InputError(f"speech.ctc_grammar_rescore_top must be >= 0, got {g_rescore['rescore_top']}")
        quiet = float(param(self, "speech.quiet_peak_dbfs", QUIET_PEAK_DBFS,
                            "dBFS: an utterance peaking under this is heard by our encoder raised to "
                            f"{MAKEUP_TARGET_DBFS:g} dBFS (-120: off)"))
        if not -120.0 <= quiet <= 0.0:  # (NaN fails too)
            raise InputError(f"speech.quiet_peak_dbfs must be in [-120, 0] dBFS (-120: off), got {quiet}")
        per_phone = float(param(self, "speech.max_speech_s_per_phone", SPEECH_S_PER_PHONE,
                                f"hybrid: s of speech per phone of the heard sentence (+ {SPEECH_ALLOWANCE_S:g} s) "
                                "above which the utterance is not understood (a long utterance heard as a short "
                                "command); 0: off"))
        if not 0.0 <= per_phone < float("inf"):  # (NaN fails too)
            raise InputError(f"speech.max_speech_s_per_phone must be a finite number >= 0 (0: off), got {per_phone}")
        vad_cfg = VadConfig(threshold=float(param(self, "vad.threshold", 0.5)),
                            min_speech_ms=float(param(self, "vad.min_speech_ms", 96.0, "ms")),
                            min_silence_ms=float(param(self, "vad.min_silence_ms", 300.0, "ms: end-of-utterance wait")),
                            speech_pad_ms=float(param(self, "vad.speech_pad_ms", 64.0, "ms")),
                            incomplete_hold_ms=float(param(self, "vad.incomplete_hold_ms", 700.0,
                                                           "ms the end is held while the sentence is unfinished")))
        self.max_queue = int(param(self, "max_queue", 400, "chunks waiting before the oldest are dropped"))
        threads = int(param(self, "runtime.threads", 1, "torch intra-op threads"))
        self.frame_id = str(param(self, "frame_id", "microphone"))
        audio_qos = declare_qos(self, "audio", "sensor_data", AUDIO_DEPTH)  # best effort, but room for a busy moment
        out_qos = declare_qos(self, "output", "reliable")
        if threads > 0:
            torch.set_num_threads(threads)
        self.tokenizer, self.frontend = build_tokenizer(frontend, folder, weights, vocabulary, mode, vad_cfg,
                                                        ctc_grammar, GrammarThresholds(g_score, g_margin, g_lead,
                                                                                       g_unsure, g_unsure_lead,
                                                                                       **g_rescore, **g_reject),
                                                        tokens_from, beam, recognizer, confirm, wrappers,
                                                        wrapper_process, voice_gate)
        self.tokenizer.quiet_peak_dbfs = None if quiet <= -120.0 else quiet
        if hasattr(self.tokenizer, "speech_s_per_phone"):  # the hybrid's check
            self.tokenizer.speech_s_per_phone = per_phone if per_phone > 0.0 else None
        wake = str(param(self, "speech.wake_word", "", "hybrid with command wrappers: a word every utterance acted "
                                                         "on must open (\"robot\"), '' = none"))
        if wake.strip():
            if self.frontend != "hybrid":
                raise InputError(f"speech.wake_word needs the hybrid speech front end (got {self.frontend!r})")
            self.tokenizer.set_wake_word(wake)  # InputError when the wrapper decoder cannot hear it
        self._warm_up()
        self.diag = Diagnostics(self, "speech tokenizer", hardware_id=self.frontend)
        for key in ("chunks_in", "bad_chunks", "utterances", "partials", "queue_overflow", "not_understood",
                    "quiet_utterances", "unfamiliar_voice_utterances", "speech_unexplained_utterances",
                    "no_wake_word_utterances"):
            self.diag.count(key, 0)
        self.pub_transcript = self.create_publisher(Transcript, TRANSCRIPT_TOPIC, out_qos)
        self.pub_tokens = self.create_publisher(SpeechTokens, TOKENS_TOPIC, out_qos)
        self._queue: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._stamps = StampMap()
        self._samples = 0  # 16 kHz samples fed to the tokenizer so far
        self._resamplers: dict[int, StreamResampler] = {}
        self._last_seq: int | None = None
        self._session = f"{os.getpid() % 10000:04d}"
        self._counter = itertools.count(1)
        self._utt_id = ""
        self._utt_start_ns = 0
        self._wrapper_problem_said = False
        self.create_subscription(AudioChunk, AUDIO_TOPIC, self._on_chunk, audio_qos)
        self._worker = threading.Thread(target=self._loop, name="speech", daemon=True)
        self._worker.start()
        self.diag.ok("listening")
        self.get_logger().info(f"speech front end: {self.frontend}; listening on {AUDIO_TOPIC}")

    def _warm_up(self) -> None:
        """One spoken command through the whole front end before listening: the first pass
        allocates (encoder, VAD, pocketsphinx's aligner, espeak for respoken tokens) and was
        ~0.9 s slower than the rest in `tristream demo` (session 12). Best effort: a failure is
        logged, and the first real utterance pays instead."""
        try:
            from tristream_ros.data.speech_synth import VoiceSpec, espeak_synthesize
            speech = espeak_synthesize("go to the red ball", VoiceSpec()).astype(np.float32)
            pad = np.zeros(SAMPLE_RATE // 2, np.float32)  # 0.5 s of silence either side
            self.tokenizer.transcribe(np.concatenate([pad, speech, pad]))
        except Exception as exc:  # noqa: BLE001 - warm-up only
            self.get_logger().warning(f"speech front end warm-up skipped: {exc}")
        finally:
            self.tokenizer.reset()

    # -- callback: queue only -------------------------------------------------------------------
    def _on_chunk(self, msg: AudioChunk) -> None:
        self.diag.count("chunks_in")
        with self._cv:
            self._queue.append(msg)
            if len(self._queue) > self.max_queue:
                self._queue.popleft()
                self.diag.drop("speech tokenizer queue full: dropped the oldest audio chunk")
                self.diag.count("queue_overflow")
            self._cv.notify()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait(0.2)
                if self._stop.is_set():
                    return
                msg = self._queue.popleft()
                depth = len(self._queue)
            self.diag.counters["queue_depth"] = depth
            try:
                self._process(msg)
            except (InputError, ValueError) as exc:
                self.diag.error(f"bad audio chunk seq {msg.sequence}: {exc}", key="bad_chunks")
            except Exception as exc:  # keep listening whatever one chunk did
                self.diag.error(f"speech tokenizer failed on chunk seq {msg.sequence}: {exc!r}", key="errors")
                self._abandon_utterance()

    def _process(self, msg: AudioChunk) -> None:
        frames, fmt = audio_chunk_to_numpy(msg)  # (N, C) float32; InputError for bad layouts
        if frames.size == 0:
            raise InputError("empty audio chunk")
        if not np.isfinite(frames).all():
            raise InputError("audio chunk holds NaN or Inf samples")
        if self._last_seq is not None and msg.sequence > self._last_seq + 1:
            self.diag.drop(n=int(msg.sequence - self._last_seq - 1))
        self._last_seq = int(msg.sequence)
        mono = to_mono(frames)  # (N,)
        if fmt.sample_rate != SAMPLE_RATE:
            rs = self._resamplers.setdefault(fmt.sample_rate, StreamResampler(fmt.sample_rate, SAMPLE_RATE))
            mono = rs.process(mono)
            if mono.size == 0:
                return
        self._stamps.add(self._samples, stamp_to_ns(msg.header.stamp))
        self._samples += mono.size
        newest_ns = self._stamps.stamp_at(self._samples / SAMPLE_RATE)
        from tristream_ros.model.speech.tokenizer import EndOfUtterance, PartialTranscript, SpeechStarted

        for ev in self.tokenizer.accept_audio(mono.astype(np.float32)):
            if isinstance(ev, SpeechStarted):
                self._utt_id = f"utt-{self._session}-{next(self._counter):04d}"
                self._utt_start_ns = self._stamps.stamp_at(ev.start_s)
                self._publish_transcript("", False, 0.0, newest_ns)
            elif isinstance(ev, PartialTranscript):
                self.diag.count("partials")
                self._publish_transcript(ev.text, False, float(ev.stability), newest_ns)
            elif isinstance(ev, EndOfUtterance):
                self._finish(ev.utterance)

    def _abandon_utterance(self) -> None:
        """After a tokenizer failure: reset, and if an utterance was in progress publish it as empty
        speech tokens, so the fusion node answers it with an explicit error instead of never."""
        in_utt = bool(getattr(self.tokenizer, "_in_utt", False))
        self.tokenizer.reset()
        if in_utt and self._utt_id:
            end_ns = self._stamps.stamp_at(self._samples / SAMPLE_RATE)
            msg = SpeechTokens(utterance_id=self._utt_id, num_tokens=0, feature_dim=0, token_period_s=0.1,
                               transcript="")
            msg.header.stamp = msg.speech_end = ns_to_stamp(end_ns)
            msg.speech_start = ns_to_stamp(self._utt_start_ns)
            self.pub_tokens.publish(msg)

    def _publish_transcript(self, text: str, final: bool, stability: float, stamp_ns: int,
                            end_ns: int | None = None) -> None:
        msg = Transcript(utterance_id=self._utt_id, text=text, is_final=final, stability=stability,
                         frontend=self.frontend)
        msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = self.frame_id
        msg.speech_start = ns_to_stamp(self._utt_start_ns)
        if end_ns is not None:
            msg.speech_end = ns_to_stamp(end_ns)
        self.pub_transcript.publish(msg)

    def _finish(self, utt) -> None:
        end_ns = self._stamps.stamp_at(utt.end_s)
        start_ns = self._stamps.stamp_at(utt.start_s)
        self._utt_start_ns = start_ns
        tokens = torch.as_tensor(utt.tokens).detach().float()
        if tokens.dim() != 2:
            tokens = tokens.reshape(0, 0)
        gain_db = utt.makeup_gain_db
        if gain_db > 0.0:  # quieter than any training utterance: our encoder heard it raised
            self.diag.count("quiet_utterances")
            self.get_logger().warning(f"{self._utt_id}: quiet speech (peak {'<= ' if gain_db >= MAKEUP_MAX_DB else ''}"
                                      f"{MAKEUP_TARGET_DBFS - gain_db:.0f} dBFS): "
                                      f"our encoder heard it {gain_db:.0f} dB louder; raise the microphone's "
                                      "gain (speech peaking at -20 to -3 dBFS is heard best)")
        if not utt.understood:  # outside the domain: no query is made of it (the transcript still goes out)
            tokens = torch.zeros(0, 0)
            rej = getattr(self.tokenizer, "last_rejection", None) or {}
            self.diag.count("not_understood")
            if "speech_unexplained" in rej:  # speech.max_speech_s_per_phone
                self.diag.count("speech_unexplained_utterances")
            if "no_wake_word" in rej:  # speech.wake_word
                self.diag.count("no_wake_word_utterances")
            self.get_logger().warning(f"{self._utt_id}: heard {utt.text!r} but not understood "
                                      f"({utt.not_understood_why}): no query forwarded")
        msg = SpeechTokens(utterance_id=self._utt_id, num_tokens=int(tokens.shape[0]),
                           feature_dim=int(tokens.shape[1]) if tokens.shape[0] else 0,
                           token_period_s=0.1, transcript=utt.text if utt.understood else "")
        msg.features = tokens.reshape(-1).numpy().tolist() if tokens.shape[0] else []
        msg.header.stamp = ns_to_stamp(end_ns)
        msg.header.frame_id = self.frame_id
        msg.speech_start = ns_to_stamp(start_ns)
        msg.speech_end = ns_to_stamp(end_ns)
        self.pub_tokens.publish(msg)  # first: it is what the assistant answers
        self._publish_transcript(utt.text, True, 1.0, end_ns, end_ns)
        self.diag.count("utterances")
        self.diag.counters["finalize_ms"] = round(float(utt.finalize_ms), 2)
        self._check_wrapper_decoder()
        pre, suf = getattr(self.tokenizer, "last_wrapper", ("", ""))
        wrapped = f", heard inside {pre or '-'} ... {suf or '-'}" if pre or suf else ""
        alias = getattr(self.tokenizer, "last_alias", None)
        wrapped += f", heard as {alias[0]!r}" if alias else ""
        if getattr(self.tokenizer, "last_unfamiliar_voice", False):
            # speech.voice_gate: a voice unlike the CTC's espeak training voices; pocketsphinx's sentence stood
            self.diag.count("unfamiliar_voice_utterances")
            p = self.tokenizer.last_voice_familiarity
            wrapped += f", voice unlike the training voices (p {p:.2f}): pocketsphinx's sentence"
        self.get_logger().info(f"{self._utt_id}: {utt.text!r} ({utt.end_s - utt.start_s:.2f} s, "
                               f"{msg.num_tokens} tokens, finalize {utt.finalize_ms:.0f} ms{wrapped})")

    def _check_wrapper_decoder(self) -> None:
        """Say once (log + diagnostics) when the wrapper decoder's child process was given up; the
        front end goes on with that decoder in this process (decoder_process.DecoderProcess)."""
        problem = getattr(self.tokenizer, "wrapper_problem", None)
        if problem and not self._wrapper_problem_said:
            self._wrapper_problem_said = True
            self.diag.error(problem, key="wrapper_decoder_failures")
            self.diag.ok("listening (the wrapper decoder in this process: its child process failed)")

    def close(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._worker.join(timeout=2.0)
        self.tokenizer.close()  # the wrapper decoder's child process


def main(argv: list[str] | None = None) -> int:
    return run_node(SpeechTokenizerNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
