"""fusion_node: the lifecycle node hosting the TriStream CMoE model.

Lifecycle (rclpy managed node; works under nav2_lifecycle_manager, with ``bond_timeout: 0.0``
since this node offers no bond):
  configure   load the checkpoint (``model.path``), the TTS voice, warm both up. A missing or
              corrupt model file logs a clear error, publishes an ERROR diagnostic and FAILS the
              transition: the node stays alive and unconfigured; fix ``model.path`` (ros2 param
              set / --params-file) and configure again.
  activate    subscriptions start (speech tokens, transcripts, vision tokens, typed queries);
              lifecycle publishers open.
  deactivate  subscriptions stop; speech still playing is cut.  cleanup: model unloaded.
  ``autostart`` (default true) runs configure + activate at start-up.

Data flow (topics relative, remappable):
  in   speech/tokens (SpeechTokens)      one finished utterance: answer it
       speech/transcript (Transcript)    a partial of a new utterance = the user speaks: barge-in
       vision/tokens (VisionTokens)      the newest is kept (one slot); used only when the chosen
                                         expert needs vision (fusion on demand)
       assistant/query (std_msgs/String) typed question (no speech), answered like an utterance
  out  assistant/response (ResponseChunk) streamed words; final chunk has the latency stages;
                                         is_error chunks explain an utterance that failed
       assistant/action_hint (ActionHint) as soon as the route is chosen (before the words)
       audio/output (AudioChunk)         spoken answer, synthesized sentence piece by piece as the
                                         text streams and published at playback pace (at most
                                         ``tts.lead_chunks`` ahead), so a barge-in stops it
                                         within one chunk
       /diagnostics                      route, per-stage latency, queue depths, drops, errors
Every output copies the stamp of the utterance it answers (end of speech).

Dialogue context: the previous turn ("query <sep> answer", as in training) is passed to the model
only for follow-ups that point back at it ("go to it", ``context.policy: referring``): the model
learned "context present = follow-up", so always passing it pulls every query to the trimodal
expert. A follow-up with no previous turn (none yet, older than ``context.max_age_s``, or
``context.policy: never``) is answered ``cascade.no_referent_reply`` ("which one do you mean"),
action none (model/dialogue.py).

Every utterance gets an answer or an explicit error chunk: model errors, bad speech tokens
with no transcript, an overflowing queue (the oldest waiting utterance is answered with an
error) all end in a ResponseChunk with ``is_error`` true. A spoken utterance that arrives with
no transcript and no speech tokens (speech the speech node did not understand, or lost to a
tokenizer failure) is also answered aloud with ``tts.not_understood_reply`` ("sorry, i did not
catch that"; a fixed phrase, not a model answer) and gets no action hint.
"""
from __future__ import annotations

import collections
import itertools
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Header, String

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.dialogue import refers_back
from tristream_ros.msg import ActionHint, AudioChunk, ResponseChunk, SpeechTokens, Transcript
from tristream_ros.msg import VisionTokens as VisionTokensMsg
from tristream_ros.ros.conversions import numpy_to_audio_chunk, stamp_to_ns
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.model_files import DEFAULT_MODEL_PATH, resolve_model_path
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import declare_qos

TOKENS_TOPIC = "speech/tokens"
TRANSCRIPT_TOPIC = "speech/transcript"
VISION_TOPIC = "vision/tokens"
QUERY_TOPIC = "assistant/query"
RESPONSE_TOPIC = "assistant/response"
HINT_TOPIC = "assistant/action_hint"
AUDIO_TOPIC = "audio/output"
PLAUSIBLE_DELAY_S = 60.0  # stamps further than this from the node clock are another clock (bag time)
CONTEXT_POLICIES = ("referring", "always", "never")


@dataclass
class Job:
    """One utterance (or typed query) waiting for its answer."""

    utterance_id: str
    stamp: object  # builtin_interfaces/Time of end of speech
    text: str
    tokens: np.ndarray | None  # (T', Ds) or None
    epoch: int  # barge-in epoch when it was queued
    received: float = field(default_factory=time.monotonic)
    note: str = ""  # a warning to attach (e.g. dropped speech tokens)
    seq: int = 0  # ResponseChunks published so far


class AudioPacer:
    """Publishes synthesized AudioChunks at playback pace, ``lead_s`` ahead of real time, so that
    unplayed audio is never more than about one chunk away from the speaker; ``cut(epoch)`` drops
    everything queued for older epochs (barge-in)."""

    def __init__(self, publish, lead_s: float, on_cut):
        self.publish, self.lead_s, self.on_cut = publish, lead_s, on_cut
        self.queue: queue.Queue = queue.Queue()
        self.epoch = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audio-pacer", daemon=True)
        self._thread.start()
        self._cur_utt = None
        self._t0 = 0.0
        self._played_s = 0.0

    def put(self, utt_id: str, epoch: int, msg: AudioChunk | None, duration_s: float, final: bool) -> None:
        self.queue.put((utt_id, epoch, msg, duration_s, final))

    def _loop(self) -> None:
        cut_reported: set[str] = set()
        while not self._stop.is_set():
            try:
                utt, epoch, msg, dur, final = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if epoch != self.epoch:  # a newer utterance began: this answer's speech is cut
                if utt not in cut_reported:
                    cut_reported.add(utt)
                    self.on_cut(utt, started=self._cur_utt == utt)
                continue
            if utt != self._cur_utt:
                self._cur_utt, self._t0, self._played_s = utt, time.monotonic(), 0.0
            due = self._t0 + self._played_s - self.lead_s
            while not self._stop.is_set() and epoch == self.epoch:
                left = due - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.01))
            if epoch != self.epoch:
                if utt not in cut_reported:
                    cut_reported.add(utt)
                    self.on_cut(utt, started=True)
                continue
            self.publish(utt, msg, final)
            self._played_s += dur

    def depth(self) -> int:
        return self.queue.qsize()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


class FusionNode(LifecycleNode):
    def __init__(self):
        super().__init__("fusion_node")
        self.p_model_path = param(self, "model.path", DEFAULT_MODEL_PATH, "checkpoint folder")
        self.autostart = bool(param(self, "autostart", True, "configure + activate at start-up"))
        self.threads = int(param(self, "runtime.threads", 1, "torch intra-op threads"))
        self.p_tts_enabled = bool(param(self, "tts.enabled", True, "publish the spoken answer"))
        self.p_voice = str(param(self, "tts.voice", "en-us", "espeak-ng voice"))
        self.p_speed = int(param(self, "tts.speed_wpm", 175, "words per minute"))
        self.p_chunk_ms = float(param(self, "tts.chunk_ms", 100.0, "ms of audio per AudioChunk"))
        self.p_first_words = int(param(self, "tts.first_max_words", 3, "words before the first spoken piece"))
        self.p_lead_chunks = float(param(self, "tts.lead_chunks", 1.0, "chunks published ahead of playback"))
        self.p_format = str(param(self, "tts.sample_format", "S16LE"))
        self.p_not_understood = str(param(self, "tts.not_understood_reply", "sorry, i did not catch that",
                                          "said (not a model answer) when spoken input arrives with no transcript "
                                          "and no speech tokens, e.g. speech the speech node did not understand; "
                                          "empty: stay silent"))
        self.p_ttl_s = float(param(self, "action.time_to_live_s", 5.0, "s an ActionHint stays valid"))
        self.p_vision_age_s = float(param(self, "vision.max_age_s", 5.0,
                                          "vision tokens older than this versus the utterance are not used (0 = off)"))
        self.p_context = str(param(self, "context.policy", "referring",
                                   "previous turn as context: referring (follow-ups only) | always | never"))
        self.p_context_age_s = float(param(self, "context.max_age_s", 60.0, "forget the previous turn after this"))
        if self.p_context not in CONTEXT_POLICIES:
            raise InputError(f"fusion_node: context.policy {self.p_context!r}; expected one of {CONTEXT_POLICIES}")
        self.p_max_pending = int(param(self, "max_pending", 8, "utterances waiting; beyond, the oldest gets an error"))
        self.p_max_tokens = int(param(self, "max_answer_tokens", 0, "0 = the model's default"))
        self.qos_out = declare_qos(self, "output", "reliable")
        self.qos_in = declare_qos(self, "input", "reliable")
        self.qos_vision = declare_qos(self, "vision", "reliable")
        self.diag = Diagnostics(self, "fusion", hardware_id="tristream")
        for key in ("utterances", "answered", "error_responses", "barge_ins", "dropped_inputs", "vision_in",
                    "vision_stale", "queue_overflow"):
            self.diag.count(key, 0)
        self.diag.ok("unconfigured")
        self.model = None
        self.streamer = None
        self._subs: list = []
        self._pubs_ready = False
        self._jobs: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._vision_msg: VisionTokensMsg | None = None
        self._vision_lock = threading.Lock()
        self._epoch = 0
        self._seen_utts: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._answering: str | None = None
        self._audio_seq = itertools.count()
        self._typed = itertools.count(1)
        self._prev_turn: str | None = None  # "query <sep> answer" of the last turn (trimodal context)
        self._prev_turn_at = 0.0
        self._worker: threading.Thread | None = None
        self.pacer: AudioPacer | None = None
        if self.autostart:
            self._autostart_timer = self.create_timer(0.05, self._do_autostart)

    # -- lifecycle --------------------------------------------------------------------------------
    def _do_autostart(self) -> None:
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        path = str(self.get_parameter("model.path").value)
        try:
            self._load(path)
        except (ModelFileError, InputError, OSError, ValueError, RuntimeError) as exc:
            self.model = None
            self.diag.error(f"configure failed: cannot load the model from {path!r}: {exc}", key="model_errors")
            self.diag.ok("unconfigured (model failed to load)")
            return TransitionCallbackReturn.FAILURE
        self.pub_response = self.create_lifecycle_publisher(ResponseChunk, RESPONSE_TOPIC, self.qos_out)
        self.pub_hint = self.create_lifecycle_publisher(ActionHint, HINT_TOPIC, self.qos_out)
        self.pub_audio = self.create_lifecycle_publisher(AudioChunk, AUDIO_TOPIC, self.qos_out)
        self._stop.clear()
        self.pacer = AudioPacer(self._publish_audio, self.p_lead_chunks * self.p_chunk_ms / 1000.0, self._on_cut)
        self._worker = threading.Thread(target=self._loop, name="answer", daemon=True)
        self._worker.start()
        self.diag.ok("configured")
        self.get_logger().info(f"model {self.model.config.name!r} loaded from {self._folder}")
        return TransitionCallbackReturn.SUCCESS

    def _load(self, path: str) -> None:
        from tristream_ros.model.checkpoint import load_checkpoint
        from tristream_ros.model.tristream_model import Query

        if self.threads > 0:
            torch.set_num_threads(self.threads)
        folder = resolve_model_path(path)
        t0 = time.perf_counter()
        model = load_checkpoint(folder)
        if model.tokenizer is None:
            raise ModelFileError(f"{folder} has no vocab.json: the model cannot read or write words")
        streamer = None
        if self.p_tts_enabled:
            from tristream_ros.outputs.tts import EspeakTTS, SentenceStreamer

            streamer = SentenceStreamer(EspeakTTS(voice=self.p_voice, speed_wpm=self.p_speed),
                                        chunk_ms=self.p_chunk_ms, first_max_words=self.p_first_words)
        # warm-up: the first forward passes allocate and are several times slower
        cfg = model.config
        side = int(getattr(cfg.vision, "image_size", 256))
        frame = np.zeros((side, side, 3), np.uint8)
        vt = model.encode_vision(frame)
        model.vision.reset()
        for q in (Query(text="stop", speech_tokens=np.zeros((4, cfg.speech_dim), np.float32)),
                  Query(text="what is on the left", speech_tokens=np.zeros((4, cfg.speech_dim), np.float32), vision=vt)):
            for _ in model.answer(q, max_new_tokens=2):
                pass
        self.model, self.streamer, self._folder = model, streamer, folder
        self.diag.counters["load_ms"] = round(1000 * (time.perf_counter() - t0), 1)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._subs = [
            self.create_subscription(SpeechTokens, TOKENS_TOPIC, self._on_tokens, self.qos_in),
            self.create_subscription(Transcript, TRANSCRIPT_TOPIC, self._on_transcript, self.qos_in),
            self.create_subscription(VisionTokensMsg, VISION_TOPIC, self._on_vision, self.qos_vision),
            self.create_subscription(String, QUERY_TOPIC, self._on_query, self.qos_in),
        ]
        self.diag.ok("active")
        self.get_logger().info("active: answering utterances")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self._subs:
            self.destroy_subscription(s)
        self._subs = []
        self._barge_in("(deactivated)")
        self.diag.ok("inactive")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._shutdown_workers()
        for pub in ("pub_response", "pub_hint", "pub_audio"):
            if hasattr(self, pub):
                self.destroy_lifecycle_publisher(getattr(self, pub))
                delattr(self, pub)
        self.model = self.streamer = None
        self.diag.ok("unconfigured")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._shutdown_workers()
        return TransitionCallbackReturn.SUCCESS

    def _shutdown_workers(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        if self.pacer is not None:
            self.pacer.close()
            self.pacer = None

    # -- inputs (no maths here) -------------------------------------------------------------------
    def _on_vision(self, msg: VisionTokensMsg) -> None:
        """Keep the newest *well-formed* vision tokens: a malformed message is reported (log +
        diagnostics) and dropped, so the utterances after it still see the last good scene."""
        from tristream_ros.ros.vision_encoder_node import check_vision_msg

        self.diag.count("vision_in")
        try:
            check_vision_msg(msg)
        except InputError as e:
            self.diag.error(f"vision tokens rejected (the previous ones stay in use): {e}", key="vision_rejected")
            return
        with self._vision_lock:
            self._vision_msg = msg

    def _on_transcript(self, msg: Transcript) -> None:
        if msg.is_final or not msg.utterance_id or msg.utterance_id in self._seen_utts:
            return
        self._seen_utts[msg.utterance_id] = None
        while len(self._seen_utts) > 256:
            self._seen_utts.popitem(last=False)
        self._barge_in(msg.utterance_id)

    def _barge_in(self, new_utt: str) -> None:
        """The user started a new utterance: stop speech still playing (within one chunk)."""
        self._epoch += 1
        if self.pacer is not None:
            self.pacer.epoch = self._epoch
        if self.streamer is not None:
            self.streamer.cancel()

    def _on_tokens(self, msg: SpeechTokens) -> None:
        self.diag.count("utterances")
        tokens, note = None, ""
        n, d = int(msg.num_tokens), int(msg.feature_dim)
        if n > 0:
            expected_d = self.model.config.speech_dim if self.model is not None else d
            if len(msg.features) != n * d or d != expected_d:
                note = (f"speech tokens ignored: {len(msg.features)} values for {n} x {d} "
                        f"(model expects feature_dim {expected_d})")
                self.diag.count("dropped_inputs")
            else:
                tokens = np.asarray(msg.features, dtype=np.float32).reshape(n, d)  # (T', Ds)
                if not np.isfinite(tokens).all():
                    tokens, note = None, "speech tokens ignored: NaN or Inf values"
                    self.diag.count("dropped_inputs")
        if msg.utterance_id not in self._seen_utts:  # no partial was seen: still a new utterance
            self._seen_utts[msg.utterance_id] = None
        self._enqueue(Job(msg.utterance_id or f"utt-anon-{next(self._typed)}", msg.header.stamp,
                          msg.transcript.strip(), tokens, self._epoch, note=note))

    def _on_query(self, msg: String) -> None:
        self.diag.count("utterances")
        stamp = self.get_clock().now().to_msg()
        self._barge_in("typed")
        self._enqueue(Job(f"typed-{next(self._typed):04d}", stamp, msg.data.strip(), None, self._epoch))

    def _enqueue(self, job: Job) -> None:
        overflow = None
        with self._cv:
            self._jobs.append(job)
            if len(self._jobs) > self.p_max_pending:
                overflow = self._jobs.popleft()
            self._cv.notify()
        self.diag.counters["pending_utterances"] = len(self._jobs)
        if overflow is not None:
            self.diag.count("queue_overflow")
            self._publish_error(overflow, f"not answered: {self.p_max_pending} newer utterances were waiting")

    # -- answering --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                while not self._jobs and not self._stop.is_set():
                    self._cv.wait(0.2)
                if self._stop.is_set():
                    return
                job = self._jobs.popleft()
            self.diag.counters["pending_utterances"] = len(self._jobs)
            self._answering = job.utterance_id
            try:
                self._answer(job)
            except Exception as exc:  # never lose an utterance silently, never die
                self._publish_error(job, f"answer failed: {type(exc).__name__}: {exc}")
            finally:
                self._answering = None

    def _vision_for(self, job: Job):
        """The newest vision tokens if fresh enough for this utterance (a lazy converter), else None."""
        from tristream_ros.ros.vision_encoder_node import msg_to_tokens

        with self._vision_lock:
            msg = self._vision_msg
        if msg is None:
            return None, None
        age_s = (stamp_to_ns(job.stamp) - stamp_to_ns(msg.header.stamp)) / 1e9
        self.diag.counters["vision_age_ms"] = round(1000 * age_s, 1)
        if self.p_vision_age_s > 0 and abs(age_s) > self.p_vision_age_s:
            self.diag.count("vision_stale")
            return None, None
        return (lambda: msg_to_tokens(msg)), msg

    def _answer(self, job: Job) -> None:
        from tristream_ros.model.tristream_model import Action, Done, Query, RouteChosen, TextDelta

        t_start = time.monotonic()
        stages: dict[str, float] = {}
        delay = self._clock_delay_s(job.stamp)
        if delay is not None:
            stages["end_of_speech_to_start"] = 1000 * delay
        stages["queue"] = 1000 * (t_start - job.received)
        if job.note:
            self.get_logger().warning(f"{job.utterance_id}: {job.note}")
        if not job.text and job.tokens is None:
            if not job.utterance_id.startswith("typed-"):
                self._say(job, self.p_not_understood)  # the user spoke: tell them, do not act
            self._publish_error(job, "nothing to answer: the transcript is empty and there are no speech tokens "
                                     "(e.g. speech the speech node did not understand)")
            return
        vision, vmsg = self._vision_for(job)
        query = Query(text=job.text, speech_tokens=job.tokens, vision=vision, context_text=self._context_for(job))
        route, words = "", []
        speak = self.streamer is not None and self.p_tts_enabled
        if speak:
            self.streamer.reset()
            if job.epoch != self._epoch:  # the user already speaks again: answer in text only
                self.streamer.cancel()
        first_text = first_audio = None
        model_lat: dict[str, float] = {}
        for ev in self.model.answer(query, max_new_tokens=self.p_max_tokens or None):
            if isinstance(ev, RouteChosen):
                route = ev.route
                self.diag.counters["route"] = route
                self.diag.counters["escalations"] = ev.escalations
            elif isinstance(ev, Action):
                self._publish_hint(job, ev, vmsg)
                stages["action"] = 1000 * (time.monotonic() - t_start)
            elif isinstance(ev, TextDelta):
                words.append(ev.text)
                self._publish_chunk(job, job.seq, ev.text, route)
                job.seq += 1
                if first_text is None:
                    first_text = time.monotonic()
                if speak:
                    for a in self.streamer.push(ev.text):
                        first_audio = self._queue_audio(job, a, first_audio)
            elif isinstance(ev, Done):
                model_lat = ev.latencies_ms
        if speak:
            for a in self.streamer.flush():
                first_audio = self._queue_audio(job, a, first_audio)
            self.pacer.put(job.utterance_id, job.epoch, None, 0.0, True)  # end marker
        text = "".join(words).strip()
        stages.update({f"model_{k}": float(v) for k, v in model_lat.items()})
        if first_text is not None:
            stages["first_text"] = 1000 * (first_text - t_start)
        if first_audio is not None:
            stages["first_audio"] = 1000 * (first_audio - t_start)
        stages["total"] = 1000 * (time.monotonic() - t_start)
        final = self._chunk(job, job.seq, "", route, final=True)
        final.latency_stages = list(stages)
        final.latency_ms = [float(v) for v in stages.values()]
        self.pub_response.publish(final)
        self._prev_turn = f"{job.text} <sep> {text}" if job.text else None
        self._prev_turn_at = time.monotonic()
        self.diag.count("answered")
        for k, v in stages.items():
            self.diag.counters[f"latency_ms.{k}"] = round(v, 1)
        self.diag.counters["audio_queue"] = self.pacer.depth() if self.pacer else 0
        self.diag.ok(f"answered {job.utterance_id} via {route}")
        self.get_logger().info(f"{job.utterance_id} [{route}] {job.text!r} -> {text!r} "
                               f"({stages.get('first_text', float('nan')):.0f} ms to first word)")

    def _say(self, job: Job, sentence: str) -> None:
        """Speak a fixed sentence for `job` (no model, no action hint) through the same streamer
        and pacer as answers, so barge-in cuts it too. Nothing when TTS is off or `sentence` is empty."""
        if not sentence.strip() or self.streamer is None or not self.p_tts_enabled or job.epoch != self._epoch:
            return
        self.streamer.reset()
        first = None
        for pieces in (self.streamer.push(sentence), self.streamer.flush()):
            for a in pieces:
                first = self._queue_audio(job, a, first)
        self.pacer.put(job.utterance_id, job.epoch, None, 0.0, True)  # end marker

    def _context_for(self, job: Job) -> str | None:
        """The previous turn ("query <sep> answer", the training format) when this query needs it."""
        if self._prev_turn is None or self.p_context == "never":
            return None
        if time.monotonic() - self._prev_turn_at > self.p_context_age_s:
            return None
        if self.p_context == "referring" and not refers_back(job.text):
            return None
        return self._prev_turn

    def _clock_delay_s(self, stamp) -> float | None:
        d = (self.get_clock().now().nanoseconds - stamp_to_ns(stamp)) / 1e9
        return d if -1.0 <= d <= PLAUSIBLE_DELAY_S else None

    # -- outputs ----------------------------------------------------------------------------------
    def _chunk(self, job: Job, seq: int, text: str, route: str, final: bool = False) -> ResponseChunk:
        msg = ResponseChunk(utterance_id=job.utterance_id, sequence=seq, is_final=final, text=text, route=route)
        msg.header.stamp = job.stamp
        return msg

    def _publish_chunk(self, job: Job, seq: int, text: str, route: str) -> None:
        self.pub_response.publish(self._chunk(job, seq, text, route))

    def _publish_error(self, job: Job, why: str) -> None:
        self.diag.error(f"{job.utterance_id}: {why}", key="error_responses")
        if not hasattr(self, "pub_response"):
            return
        msg = self._chunk(job, job.seq, "", "", final=True)  # after any words already streamed
        msg.is_error, msg.error = True, why
        self.pub_response.publish(msg)

    def _publish_hint(self, job: Job, action, vmsg) -> None:
        msg = ActionHint(utterance_id=job.utterance_id, action=action.name, confidence=float(action.confidence))
        msg.header.stamp = job.stamp
        if action.target_uv is not None:
            msg.has_target = True
            msg.target_u, msg.target_v = float(action.target_uv[0]), float(action.target_uv[1])
            if vmsg is not None:
                msg.header.frame_id = vmsg.header.frame_id  # the camera the target is in
        ttl_ns = int(self.p_ttl_s * 1e9)
        msg.time_to_live.sec, msg.time_to_live.nanosec = ttl_ns // 10**9, ttl_ns % 10**9
        self.pub_hint.publish(msg)

    def _queue_audio(self, job: Job, chunk, first_audio):
        if chunk.samples.size == 0:
            return first_audio
        msg = numpy_to_audio_chunk(chunk.samples, 16000, self.p_format, header=Header(stamp=job.stamp))
        msg.header.frame_id = "speaker"
        msg.utterance_id = job.utterance_id
        self.pacer.put(job.utterance_id, job.epoch, msg, chunk.samples.size / 16000.0, False)
        return first_audio if first_audio is not None else time.monotonic()

    def _publish_audio(self, utt: str, msg: AudioChunk | None, final: bool) -> None:
        if msg is not None:
            msg.sequence = next(self._audio_seq)
            try:
                self.pub_audio.publish(msg)
            except Exception:  # shutting down
                pass
        if final:
            self._publish_audio_end(utt)

    def _publish_audio_end(self, utt: str) -> None:
        msg = AudioChunk(sample_rate=16000, channels=1, sample_format=self.p_format, utterance_id=utt, is_final=True,
                         sequence=next(self._audio_seq))
        msg.header.stamp = self.get_clock().now().to_msg()
        try:
            self.pub_audio.publish(msg)
        except Exception:
            pass

    def _on_cut(self, utt: str, started: bool) -> None:
        self.diag.count("barge_ins")
        self.get_logger().info(f"barge-in: speech of {utt} cut")
        if started:
            self._publish_audio_end(utt)

    def close(self) -> None:
        self._shutdown_workers()


def main(argv: list[str] | None = None) -> int:
    return run_node(FusionNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
