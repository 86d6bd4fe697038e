"""Latency of the running ROS graph, against a cascade baseline measured in the same run.

    tristream bench latency --json [--model models/demo] [--utterances 30] [--set NODE:KEY=VALUE ...]

1. **Graph** (speaker, vision encoder, speech tokenizer, fusion; separate processes via the
   launcher): demo bags (seeds 0, 1, ...) are played like live sensors until at least
   ``--utterances`` utterances were spoken. For each, from header stamps: the true end of
   speech (ground truth, moved onto the live clock) -> final transcript (SpeechTokens),
   -> first response text, -> action hint, -> first spoken audio chunk. p50 / p90.
2. **Audio-only queries** (the bags' speech-only commands, re-played as one microphone track)
   twice: with the vision node running and the camera streaming, then with the vision node
   stopped and no camera. Fusion on demand should make the two equal.
3. **Cascade baseline** built from real parts here, on the same utterances: silero-vad end of
   utterance (same settings) -> pocketsphinx on the whole utterance (same vocabulary) -> the
   same text model (TriStreamModel with text only, vision tokens of the frame when the route
   needs them) -> espeak-ng on the whole answer. Measured in this process (no ROS overhead,
   which favours the cascade).

JSON: ``{"first_audio_ms": {"p50", "p90", "n"}, "first_text_ms", "action_hint_ms",
"transcript_ms", "audio_only": {"vision_running": {...}, "vision_stopped": {...},
"first_audio_p50_ratio_running_over_stopped"}, "cascade": {"first_audio_ms": ..., ...},
"targets": {...}, "accuracy": {...}, "machine": ...}``.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from tristream_ros.bench.common import add_common_arguments, emit, machine

CHUNK = 800  # samples per AudioChunk (50 ms at 16 kHz), as the demo bag
SR = 16000  # Hz
GAP_S = 2.5  # s of microphone noise after each audio-only command
TARGET_FIRST_AUDIO_P50_MS = 600.0
DEFAULT_CACHE = Path.home() / ".cache" / "tristream" / "bench_latency"
METRICS = ("transcript_ms", "first_text_ms", "action_hint_ms", "first_audio_ms")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p)
    p.add_argument("--model", default="models/demo", help="checkpoint folder (default models/demo)")
    p.add_argument("--utterances", type=int, default=30, help="utterances through the full graph (default 30)")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the demo bags are generated once")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--no-cascade", action="store_true", help="skip the cascade baseline")
    p.add_argument("--no-audio-only", action="store_true", help="skip the audio-only runs")
    p.add_argument("--set", action="append", default=[], metavar="NODE:KEY=VALUE",
                   help="override one node parameter for the graph (repeatable; VALUE read as YAML), e.g. "
                        "speech_tokenizer_node:speech.command_wrappers=true")


def parse_overrides(items) -> dict[str, dict]:
    """``NODE:dotted.key=VALUE`` strings -> GraphSession overrides ({node: {key: value}}), the value
    read as YAML ("true" -> True, "0.5" -> 0.5); a clear InputError for anything else."""
    import yaml

    from tristream_ros.errors import InputError
    from tristream_ros.ros.graph_session import GRAPH

    out: dict[str, dict] = {}
    for item in items:
        node, sep, rest = str(item).partition(":")
        key, eq, value = rest.partition("=")
        if not sep or not eq or not key.strip():
            raise InputError(f"--set expects NODE:KEY=VALUE, got {item!r}")
        if node not in GRAPH:
            raise InputError(f"--set: unknown node {node!r}; the benchmark's graph runs {', '.join(GRAPH)}")
        out.setdefault(node, {})[key.strip()] = yaml.safe_load(value)
    return out


def stats(values) -> dict:
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"p50": None, "p90": None, "n": 0}
    return {"p50": round(float(np.percentile(v, 50)), 1), "p90": round(float(np.percentile(v, 90)), 1), "n": len(v)}


def _log(args, text: str) -> None:
    print(f"[bench latency] {text}", file=sys.stderr if args.json else sys.stdout, flush=True)


# -- material --------------------------------------------------------------------------------------
def bags_for(n_utterances: int, cache: Path, log) -> list[tuple[Path, dict]]:
    from tristream_ros.data.demo_bag import write_demo_bag

    out, seed, count = [], 0, 0
    while count < n_utterances:
        folder = cache / f"seed{seed}"
        truth_path = folder / "ground_truth.json"
        if not truth_path.is_file():
            log(f"generating demo bag seed {seed} in {folder}")
            write_demo_bag(folder, seed=seed, overwrite=True)
        truth = json.loads(truth_path.read_text())
        out.append((folder / "bag", truth))
        count += len(truth["utterances"])
        seed += 1
    return out


def bag_audio_and_frames(bag: Path) -> tuple[np.ndarray, list]:
    """The bag's microphone track (float32 16 kHz) and its camera Image messages."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from tristream_ros.bag.reader import iter_messages
    from tristream_ros.msg import AudioChunk

    pcm, frames = [], []
    for m in iter_messages(bag, ["/audio/input", "/camera/image"]):
        if m.topic == "/audio/input":
            msg = deserialize_message(m.data, AudioChunk)
            pcm.append(np.frombuffer(bytes(msg.data), "<i2").astype(np.float32) / 32768.0)
        else:
            frames.append(deserialize_message(m.data, Image))
    return np.concatenate(pcm), frames


def audio_only_track(bags) -> tuple[np.ndarray, list[dict]]:
    """The speech-only commands of the bags, each followed by GAP_S of noise, as one track;
    utterances with their sample positions."""
    rng = np.random.default_rng(0)
    pieces = [np.zeros(SR, np.float32)]
    pos = SR
    utts = []
    for bag, truth in bags:
        audio, _ = bag_audio_and_frames(bag)
        for u in truth["utterances"]:
            if u["route"] != "speech":
                continue
            a, b = int(u["start_s"] * SR), int(u["end_s"] * SR)
            seg = audio[max(0, a - SR // 5): b]
            utts.append({"text": u["text"], "expected_answer": u["expected_answer"],
                         "expected_action": u["expected_action"], "route": "speech", "end_sample": pos + len(seg)})
            pieces += [seg, np.zeros(int(GAP_S * SR), np.float32)]
            pos += len(seg) + int(GAP_S * SR)
    track = np.concatenate(pieces)
    track += rng.standard_normal(track.size).astype(np.float32) * 1e-3  # -60 dBFS microphone floor
    return track, utts


class TrackPlayer:
    """Publishes a float32 track as live AudioChunks (stamps = capture time of the first sample,
    each published once captured) and, optionally, camera frames at 10 Hz with live stamps."""

    def __init__(self, observer, track: np.ndarray, frames: list | None = None):
        self.obs, self.track, self.frames = observer, track, frames or []
        self.base_ns = 0

    def play(self) -> None:
        from tristream_ros.msg import AudioChunk
        from tristream_ros.ros.conversions import ns_to_stamp

        n = -(-self.track.size // CHUNK)
        self.base_ns = time.time_ns()
        t0 = time.monotonic()
        frame_every = int(round(0.1 * SR / CHUNK))  # a camera frame every 2 chunks (10 Hz)
        for j in range(n):
            due = t0 + (j + 1) * CHUNK / SR
            while (left := due - time.monotonic()) > 0:
                time.sleep(min(left, 0.005))
            seg = self.track[j * CHUNK:(j + 1) * CHUNK]
            msg = AudioChunk(sample_rate=SR, channels=1, sample_format="S16LE", sequence=j)
            msg.data = np.clip(np.round(seg * 32768), -32768, 32767).astype("<i2").tobytes()
            msg.header.stamp = ns_to_stamp(self.base_ns + int(j * CHUNK / SR * 1e9))
            msg.header.frame_id = "microphone"
            self.obs.pub_audio.publish(msg)
            if self.frames and j % frame_every == 0:
                img = self.frames[(j // frame_every) % len(self.frames)]
                img.header.stamp = ns_to_stamp(self.base_ns + int((j + 1) * CHUNK / SR * 1e9))
                self.obs.pub_image.publish(img)

    def truth(self, utts: list[dict]) -> dict:
        return {"utterances": [dict(u, end_ns=self.base_ns + int(u["end_sample"] / SR * 1e9)) for u in utts]}


# -- graph runs ------------------------------------------------------------------------------------
def _finished(obs) -> set:
    return {h.msg.utterance_id for h in obs.get("assistant/response") if h.msg.is_final}


def measure_bags(obs, bags, log) -> tuple[list[dict], list[dict]]:
    from tristream_ros.commands.demo_cmd import collect_utterances
    from tristream_ros.ros.graph_session import LivePlayer

    rows, checks = [], []
    for bag, truth in bags:
        obs.clear()
        player = LivePlayer(obs, bag).start()
        player.done.wait(truth["duration_s"] + 60)
        obs.wait_until(lambda: len(_finished(obs)) >= len(truth["utterances"]), 30)
        time.sleep(0.5)
        utts = collect_utterances(obs, player.offset_ns, truth)
        for u in utts:
            t = u.pop("truth", None)
            if t is not None:
                checks.append({"transcript_ok": u["transcript"] == t["text"],
                               "answer_ok": u["answer"] == t["expected_answer"],
                               "action_ok": u.get("action") == t["expected_action"], "route": t["route"]})
        rows += utts
        log(f"{bag.parent.name}: {len(utts)} utterances, first audio "
            f"{[u.get('first_audio_ms') for u in utts]} ms")
    return rows, checks


def measure_track(obs, track, utts, frames, log, label) -> list[dict]:
    from tristream_ros.commands.demo_cmd import collect_utterances

    obs.clear()
    player = TrackPlayer(obs, track, frames)
    player.play()
    obs.wait_until(lambda: len(_finished(obs)) >= len(utts), 30)
    time.sleep(0.5)
    rows = collect_utterances(obs, 0, player.truth(utts))
    for r in rows:
        r.pop("truth", None)
    log(f"audio-only, {label}: {len(rows)} utterances, first audio {[r.get('first_audio_ms') for r in rows]} ms")
    return rows


def summary(rows: list[dict]) -> dict:
    return {m: stats([r.get(m) for r in rows]) for m in METRICS} | {"n_utterances": len(rows)}


# -- cascade baseline ------------------------------------------------------------------------------
def measure_cascade(model_path: Path, bags, vad_cfg, vocabulary: str, log) -> dict:
    """VAD end -> pocketsphinx (whole utterance) -> text model (whole answer) -> espeak-ng."""
    from tristream_ros.data.language import all_queries, all_sentences
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.model.speech.pocketsphinx_frontend import (DomainVocabulary, PocketsphinxConfig,
                                                                  PocketsphinxRecognizer)
    from tristream_ros.model.speech.vad import StreamingVad
    from tristream_ros.model.tristream_model import Action, Query, TextDelta
    from tristream_ros.outputs.tts import EspeakTTS
    from tristream_ros.ros.conversions import image_to_rgb8

    model = load_checkpoint(model_path)
    sentences = {"queries": all_queries, "domain": all_sentences}.get(vocabulary)
    asr = PocketsphinxRecognizer(PocketsphinxConfig(DomainVocabulary(sentences(), "grammar") if sentences else None))
    tts = EspeakTTS()
    vad = StreamingVad(vad_cfg)
    rows = []
    for bag, truth in bags:
        audio, frames = bag_audio_and_frames(bag)
        model.vision.reset()
        for u in truth["utterances"]:
            a, b = int(u["start_s"] * SR), int(u["end_s"] * SR)
            seg = audio[max(0, a - SR // 2): min(audio.size, b + int(1.5 * SR))]
            vad.reset()
            end_detect = None
            for i in range(0, seg.size, CHUNK):  # when does the VAD call the end (stream seconds)?
                for ev in vad.accept(seg[i:i + CHUNK]):
                    if ev.kind == "end" and end_detect is None:
                        end_detect = (i + CHUNK) / SR
                if end_detect is not None:
                    break
            true_end = (b - max(0, a - SR // 2)) / SR
            vad_ms = 1000 * ((end_detect if end_detect is not None else seg.size / SR) - true_end)
            utt_audio = seg[: int(true_end * SR) + int(0.1 * SR)]
            t0 = time.perf_counter()
            asr.start()
            asr.feed(utt_audio)
            text = asr.end()
            asr_ms = 1000 * (time.perf_counter() - t0)
            k = min(len(frames) - 1, int(u["end_s"] * 10))
            rgb = image_to_rgb8(frames[k])
            t1 = time.perf_counter()
            first_tok = hint = None
            words = []
            try:
                q = Query(text=text, vision=lambda: model.encode_vision(rgb))
                for ev in model.answer(q):
                    if isinstance(ev, Action):
                        hint = time.perf_counter()
                    elif isinstance(ev, TextDelta):
                        words.append(ev.text)
                        first_tok = first_tok or time.perf_counter()
            except Exception as exc:  # e.g. an empty transcript: the cascade has nothing to answer
                log(f"cascade: {u['text']!r} -> ASR {text!r}: {exc}")
            t2 = time.perf_counter()
            answer = "".join(words).strip()
            tts.synthesize(answer or "sorry")
            t3 = time.perf_counter()
            base = vad_ms + asr_ms
            rows.append({"transcript_ms": base, "action_hint_ms": base + 1000 * ((hint or t2) - t1),
                         "first_text_ms": base + 1000 * ((first_tok or t2) - t1),
                         "first_audio_ms": base + 1000 * (t3 - t1),
                         "transcript_ok": text == u["text"], "answer_ok": answer == u["expected_answer"]})
    out = summary(rows)
    out["transcripts_correct"] = sum(r["transcript_ok"] for r in rows)
    out["answers_correct"] = sum(r["answer_ok"] for r in rows)
    return out


# -- main ------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    import yaml

    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.model.speech.vad import VadConfig
    from tristream_ros.ros.graph_session import GraphSession, Observer
    from tristream_ros.ros.launcher import default_config_path, node_block
    from tristream_ros.ros.model_files import resolve_model_path

    log = lambda text: _log(args, text)  # noqa: E731
    try:
        model = resolve_model_path(args.model)
    except ModelFileError as exc:
        print(f"tristream bench latency: {exc}", file=sys.stderr)
        return 2
    if args.utterances < 1:
        raise InputError(f"--utterances must be >= 1, got {args.utterances}")
    overrides = parse_overrides(args.set)
    bags = bags_for(args.utterances, Path(args.cache).expanduser(), log)
    result: dict = {"benchmark": "latency", "model": str(model), "machine": machine()}
    if overrides:
        result["overrides"] = overrides
    speaker = {"sink": "wav", "wav.path": "/dev/null"}
    session = GraphSession(model_path=str(model),
                           overrides={**overrides, "speaker_node": {**overrides.get("speaker_node", {}), **speaker}},
                           log_path=Path(args.cache).expanduser() / "graph.log")
    obs = Observer(name="bench_latency").start_spinning()
    try:
        session.start()
        log(f"starting the graph (log {session.log_path}) ...")
        if not obs.wait_for_graph(args.startup_timeout):
            print(f"tristream bench latency: the graph did not start; see {session.log_path}", file=sys.stderr)
            return 1
        rows, checks = measure_bags(obs, bags, log)
        result.update(summary(rows))
        result["accuracy"] = {k: round(sum(c[k] for c in checks) / max(1, len(checks)), 3)
                              for k in ("transcript_ok", "answer_ok", "action_ok")} | {"n": len(checks)}
        routes = {}
        for r in rows:
            routes[r["route"]] = routes.get(r["route"], 0) + 1
        result["routes"] = routes
        result["fusion_stages_ms_p50"] = {
            s: stats([r["stages_ms"][s] for r in rows if s in r.get("stages_ms", {})])["p50"]
            for s in sorted({s for r in rows for s in r.get("stages_ms", {})})}
        if not args.no_audio_only:
            track, utts = audio_only_track(bags)
            _, frames = bag_audio_and_frames(bags[0][0])
            running = measure_track(obs, track, utts, frames, log, "vision running")
            proc = session.launcher.procs.get("vision_encoder_node")
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(10)
            time.sleep(6.0)  # the fusion node's last vision tokens go stale (vision.max_age_s)
            stopped = measure_track(obs, track, utts, None, log, "vision stopped")
            a, b = summary(running), summary(stopped)
            result["audio_only"] = {"vision_running": a, "vision_stopped": b}
            if a["first_audio_ms"]["p50"] and b["first_audio_ms"]["p50"]:
                result["audio_only"]["first_audio_p50_ratio_running_over_stopped"] = round(
                    a["first_audio_ms"]["p50"] / b["first_audio_ms"]["p50"], 3)
        result["nodes_alive_at_end"] = session.alive()
        if "audio_only" in result:  # stopped on purpose for audio_only.vision_stopped, not a crash
            result["nodes_stopped_by_the_benchmark"] = ["vision_encoder_node"]
    finally:
        session.stop()
        obs.close()
    if not args.no_cascade:
        doc = yaml.safe_load(Path(default_config_path()).read_text())
        sp = (node_block(doc, "speech_tokenizer_node") or {}).get("ros__parameters", {})
        v = sp.get("vad", {})
        vad_cfg = VadConfig(threshold=float(v.get("threshold", 0.5)), min_speech_ms=float(v.get("min_speech_ms", 96)),
                            min_silence_ms=float(v.get("min_silence_ms", 300)),
                            speech_pad_ms=float(v.get("speech_pad_ms", 64)))
        vocab = str(sp.get("pocketsphinx", {}).get("vocabulary", "queries"))
        log("cascade baseline: silero-vad -> pocketsphinx -> text model -> espeak-ng ...")
        result["cascade"] = measure_cascade(model, bags, vad_cfg, vocab, log)
    fa = result.get("first_audio_ms", {}).get("p50")
    result["targets"] = {
        "first_audio_p50_ms_le_600": fa is not None and fa <= TARGET_FIRST_AUDIO_P50_MS,
        "audio_only_vision_running_within_10pct": bool(
            result.get("audio_only", {}).get("first_audio_p50_ratio_running_over_stopped") is not None
            and result["audio_only"]["first_audio_p50_ratio_running_over_stopped"] <= 1.10),
        "faster_than_cascade": bool(fa is not None and result.get("cascade", {}).get("first_audio_ms", {}).get("p50")
                                    and fa < result["cascade"]["first_audio_ms"]["p50"]),
    }
    return emit(result, args)


if __name__ == "__main__":  # python -m tristream_ros.bench.latency --json
    p = argparse.ArgumentParser(prog="tristream bench latency")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
