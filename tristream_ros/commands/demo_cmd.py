"""`tristream demo`: the generated scene-plus-commands bag through the whole graph.

    tristream demo                   # bag (generated once) -> speaker, vision, speech, fusion nodes
    tristream demo --json            # one JSON document instead of the live text
    tristream demo --mic             # your microphone instead of the bag's audio (needs a sound card)
    tristream demo --camera /camera/color/image_raw   # your camera driver's topic instead of the bag's

Each node runs as its own process (the launcher, same config as `tristream launch`); the bag is
played like live sensors (recorded pacing, stamps moved onto the current clock). As it happens
the demo prints the live transcript, the streamed answer, the action hint and the WAV file of
the spoken answer, then a per-stage latency table (from header stamps: end of speech -> each
output) and, for the bag, whether each answer matches the bag's ground truth.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import wave
from pathlib import Path

DEFAULT_OUT = Path.home() / ".cache" / "tristream" / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="models/demo", help="checkpoint folder (default models/demo)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"bag + WAV folder (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="demo bag seed (a new seed writes a new bag)")
    p.add_argument("--json", action="store_true", help="print one JSON document at the end, nothing live")
    p.add_argument("--mic", action="store_true", help="listen to the sound card instead of the bag's audio")
    p.add_argument("--camera", default=None, metavar="TOPIC", help="use this camera topic instead of the bag's frames")
    p.add_argument("--listen-s", type=float, default=30.0, help="with --mic: seconds to listen (default 30)")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the graph")


def _say(args, text: str = "", end: str = "\n") -> None:
    if not args.json:
        print(text, end=end, flush=True)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the process's stderr (file descriptor 2, where C libraries write) for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _check_devices(args) -> str | None:
    if args.mic:
        try:
            import pyaudio
        except ImportError:
            return "--mic needs pyaudio (apt-get install portaudio19-dev; pip install pyaudio)"
        with _quiet_stderr():  # ALSA / JACK print pages of probing noise on machines without a card
            pa = pyaudio.PyAudio()
            try:
                inputs = [i for i in range(pa.get_device_count())
                          if pa.get_device_info_by_index(i).get("maxInputChannels", 0) > 0]
            finally:
                pa.terminate()
        if not inputs:
            return "--mic: no audio input device on this machine (PyAudio sees no capture device); " \
                   "run without --mic to use the bag's recorded commands"
    return None


def run(args: argparse.Namespace) -> int:
    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.ros.model_files import resolve_model_path

    problem = _check_devices(args)
    if problem:
        print(f"tristream demo: {problem}", file=sys.stderr)
        return 2
    try:
        model = resolve_model_path(args.model)
    except ModelFileError as exc:
        print(f"tristream demo: {exc}. The shipped model is created by scripts/setup.sh "
              f"(or pass --model FOLDER)", file=sys.stderr)
        return 2
    out = Path(args.out).expanduser()
    try:
        result = run_demo(args, model, out)
    except (InputError, ModelFileError) as exc:
        print(f"tristream demo: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    return 0 if result.get("ok") else 1


def ensure_bag(out: Path, seed: int, say=print) -> tuple[Path, dict]:
    from tristream_ros.data.demo_bag import write_demo_bag

    folder = out / f"bag_seed{seed}"
    truth_path = folder / "ground_truth.json"
    if not truth_path.is_file():
        say(f"generating the demo bag (seed {seed}) in {folder} ...")
        write_demo_bag(folder, seed=seed, overwrite=True)
    return folder / "bag", json.loads(truth_path.read_text())


def run_demo(args, model: Path, out: Path) -> dict:
    from tristream_ros.ros.graph_session import GraphSession, LivePlayer, Observer

    say = lambda text="", end="\n": _say(args, text, end)  # noqa: E731
    out.mkdir(parents=True, exist_ok=True)
    bag, truth = (None, None) if args.mic else ensure_bag(out, args.seed, say)
    nodes = ["speaker_node", "vision_encoder_node", "speech_tokenizer_node", "fusion_node"]
    if args.mic:
        nodes.append("microphone_node")
    overrides = {"speaker_node": {"sink": "wav", "wav.path": str(out / "speaker_out.wav")}}
    session = GraphSession(tuple(nodes), model_path=str(model), overrides=overrides,
                           log_path=out / "graph.log")
    if args.camera:
        session.cfg.remaps["camera/image"] = args.camera
    say(f"model: {model}\nstarting {', '.join(nodes)} (log: {out / 'graph.log'}) ...")
    obs = Observer(name="tristream_demo")
    wavs = AnswerWavs(out)
    live = LivePrinter(say, wavs)
    for topic in ("speech/transcript", "assistant/response", "assistant/action_hint", "audio/output"):
        obs.on(topic, live.handle(topic))
    obs.start_spinning()
    try:
        session.start()  # inside the try: nodes that did start are stopped if a later one fails
        t0 = time.monotonic()
        if not obs.wait_for_graph(args.startup_timeout, need_vision=True):
            dead = [n for n, a in session.alive().items() if not a]
            raise_msg = f"the graph did not come up in {args.startup_timeout:g} s" + \
                (f"; exited: {dead}" if dead else "") + f"; see {out / 'graph.log'}"
            say(raise_msg)
            return {"ok": False, "error": raise_msg, "log": str(out / "graph.log")}
        say(f"graph ready in {time.monotonic() - t0:.1f} s\n")
        if args.camera:
            if not obs.wait_until(lambda: obs.node.count_publishers(args.camera) > 0, 10.0):
                say(f"note: nothing publishes {args.camera} (no camera driver running?): answering without vision")
        player = None
        if args.mic:
            say(f"listening to the microphone for {args.listen_s:g} s; speak a command or a question")
            time.sleep(args.listen_s)
        else:
            player = LivePlayer(obs, bag, camera=args.camera is None).start()
            player.done.wait(truth["duration_s"] + 30)
            n = len(truth["utterances"])
            obs.wait_until(lambda: len(live.finished) >= n, 60.0)
        time.sleep(1.0)
        result = summarize(obs, truth, player, wavs, say)
        result["alive"] = session.alive()
        result["model"] = str(model)
        return result
    finally:
        session.stop()
        obs.close()


class AnswerWavs:
    """Writes each answer's spoken audio (audio/output chunks) to OUT/answer_<utterance>.wav."""

    def __init__(self, out: Path):
        self.out = out
        self.pcm: dict[str, list[bytes]] = {}
        self.paths: dict[str, str] = {}

    def add(self, msg) -> str | None:
        utt = msg.utterance_id
        if len(msg.data):
            self.pcm.setdefault(utt, []).append(bytes(msg.data))
        if msg.is_final and utt in self.pcm:
            path = self.out / f"answer_{utt}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(int(msg.sample_rate) or 16000)
                w.writeframes(b"".join(self.pcm.pop(utt)))
            self.paths[utt] = str(path)
            return str(path)
        return None


class LivePrinter:
    """Prints the conversation as it happens."""

    def __init__(self, say, wavs: AnswerWavs):
        self.say, self.wavs = say, wavs
        self.partial = {}
        self.finished: set[str] = set()
        self.answer_open = None

    def handle(self, topic):
        def cb(h):
            m = h.msg
            if topic == "speech/transcript":
                if m.is_final:
                    self.say(f"\nyou said   : {m.text!r}")
                elif m.text and m.text != self.partial.get(m.utterance_id):
                    self.partial[m.utterance_id] = m.text
                    self.say(f"  hearing  : {m.text}")
            elif topic == "assistant/action_hint":
                target = f" at (u={m.target_u:.2f}, v={m.target_v:.2f})" if m.has_target else ""
                lead = "\n" if self.answer_open else ""  # words of this answer already started
                self.say(f"{lead}action hint: {m.action}{target} (confidence {m.confidence:.2f})")
            elif topic == "assistant/response":
                if m.is_error:
                    self.say(f"assistant  : [error] {m.error}")
                    self.finished.add(m.utterance_id)
                elif m.is_final:
                    self.say("" if self.answer_open == m.utterance_id else "assistant  : (no words)")
                    self.answer_open = None
                    self.finished.add(m.utterance_id)
                else:
                    if self.answer_open != m.utterance_id:
                        self.answer_open = m.utterance_id
                        self.say(f"assistant  [{m.route}]: ", end="")
                    self.say(m.text, end="")
            elif topic == "audio/output":
                path = self.wavs.add(m)
                if path:
                    self.say(f"spoken answer written to {path}")
        return cb


def _pct(values, q):
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else None


def collect_utterances(obs, offset_ns: int | None, truth: dict | None) -> list[dict]:
    """Per utterance: transcript, answer, route, action, stamps -> latencies (ms after end of speech)."""
    from tristream_ros.ros.conversions import stamp_to_ns

    rows: dict[str, dict] = {}
    for h in obs.get("speech/tokens"):
        m = h.msg
        rows[m.utterance_id] = {"id": m.utterance_id, "transcript": m.transcript,
                                "speech_end_ns": stamp_to_ns(m.speech_end), "tokens_at": h.t_ns,
                                "answer": "", "route": "", "error": ""}
    for h in obs.get("assistant/response"):
        m = h.msg
        r = rows.get(m.utterance_id)
        if r is None:
            continue
        if m.text and "first_text_at" not in r:
            r["first_text_at"] = h.t_ns
        r["answer"] += m.text
        r["route"] = m.route or r["route"]
        if m.is_error:
            r["error"] = m.error
        if m.is_final:
            r["stages_ms"] = {k: round(float(v), 1) for k, v in zip(m.latency_stages, m.latency_ms)}
            r["final_at"] = h.t_ns
    for h in obs.get("assistant/action_hint"):
        r = rows.get(h.msg.utterance_id)
        if r is not None and "hint_at" not in r:
            r["hint_at"] = h.t_ns
            r["action"] = h.msg.action
            r["target_uv"] = [round(h.msg.target_u, 3), round(h.msg.target_v, 3)] if h.msg.has_target else None
    for h in obs.get("audio/output"):
        r = rows.get(h.msg.utterance_id)
        if r is not None and len(h.msg.data) and "first_audio_at" not in r:
            r["first_audio_at"] = h.t_ns
    out = sorted(rows.values(), key=lambda r: r["speech_end_ns"])
    truths = (truth or {}).get("utterances", [])
    for r in out:
        end = r["speech_end_ns"]
        if truths and offset_ns is not None:  # the ground-truth utterance closest in time
            t = min(truths, key=lambda u: abs(u["end_ns"] + offset_ns - end))
            if abs(t["end_ns"] + offset_ns - end) < 1.0e9:
                r["truth"] = t
                end = t["end_ns"] + offset_ns  # the true end of speech, not the VAD's
        r["end_of_speech_ns"] = end
        r["answer"] = r["answer"].strip()
        for key, name in (("tokens_at", "transcript_ms"), ("first_text_at", "first_text_ms"),
                          ("hint_at", "action_hint_ms"), ("first_audio_at", "first_audio_ms"),
                          ("final_at", "answer_done_ms")):
            if key in r:
                r[name] = round((r.pop(key) - end) / 1e6, 1)
    return out


def summarize(obs, truth, player, wavs: AnswerWavs, say) -> dict:
    offset = player.offset_ns if player is not None else None
    utts = collect_utterances(obs, offset, truth)
    for u in utts:
        u["wav"] = wavs.paths.get(u["id"])
    checks = []
    for u in utts:
        t = u.pop("truth", None)
        if t is None:
            continue
        c = {"id": u["id"], "expected_text": t["text"], "transcript_ok": u["transcript"] == t["text"],
             "expected_answer": t["expected_answer"], "answer_ok": u["answer"] == t["expected_answer"],
             "expected_action": t["expected_action"], "action_ok": u.get("action") == t["expected_action"]}
        if t.get("expected_target_uv") and u.get("target_uv"):
            c["target_error"] = round(sum((a - b) ** 2 for a, b in zip(u["target_uv"], t["expected_target_uv"])) ** 0.5, 3)
        u["check"] = c
        checks.append(c)
    keys = ("transcript_ms", "first_text_ms", "action_hint_ms", "first_audio_ms", "answer_done_ms")
    table = {k: {"p50": _pct([u[k] for u in utts if k in u], 50), "p90": _pct([u[k] for u in utts if k in u], 90),
                 "n": sum(1 for u in utts if k in u)} for k in keys}
    stage_names = sorted({s for u in utts for s in u.get("stages_ms", {})})
    stages = {s: {"p50": _pct([u["stages_ms"][s] for u in utts if s in u.get("stages_ms", {})], 50)}
              for s in stage_names}
    say("\nlatency after the end of speech (ms, header stamps):")
    say(f"  {'utterance':16s} {'transcript':>10s} {'1st text':>9s} {'hint':>8s} {'1st audio':>9s} {'done':>8s}")
    for u in utts:
        vals = [u.get(k) for k in keys]
        say(f"  {u['id'][-16:]:16s} " + " ".join(f"{'-' if v is None else f'{v:.0f}':>9s}" for v in vals))
    fmt = lambda v: f"{'-' if v is None else f'{v:.0f}':>9s}"  # noqa: E731
    say(f"  {'p50':16s} " + " ".join(fmt(table[k]["p50"]) for k in keys))
    say(f"  {'p90':16s} " + " ".join(fmt(table[k]["p90"]) for k in keys))
    if stage_names:
        say("fusion node stages (p50 ms): " + ", ".join(f"{s} {v['p50']:.0f}" for s, v in stages.items()
                                                         if v["p50"] is not None))
    ok = bool(utts) and all(not u.get("error") for u in utts)
    if checks:
        n = len(checks)
        score = {k: sum(c[k] for c in checks) for k in ("transcript_ok", "answer_ok", "action_ok")}
        say(f"ground truth: transcripts {score['transcript_ok']}/{n}, answers {score['answer_ok']}/{n}, "
            f"actions {score['action_ok']}/{n}")
        expected = len((truth or {}).get("utterances", []))
        ok = ok and len(checks) == expected
    return {"ok": ok, "utterances": utts, "latency_ms": table, "fusion_stages_ms": stages,
            "checks": checks}
