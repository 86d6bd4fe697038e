"""The demo rosbag: a camera stream of one rendered scene plus spoken commands and questions.

``write_demo_bag(out_dir, seed)`` writes::

    out_dir/bag/                  rosbag2 (sqlite3 or mcap, format version 8)
        /camera/image             sensor_msgs/msg/Image, rgb8 256x256, 10 Hz
        /audio/input              tristream_ros/msg/AudioChunk, S16LE mono 16 kHz, 50 ms chunks
    out_dir/ground_truth.json     utterance times (bag clock), text, route, expected
                                  action / target / answer, the scene and its objects

The utterances form a small dialogue about the scene: a speech-only command, a question about
an object, a follow-up that needs the previous turn ("go to it"), a direct object command, a
count question and a final "stop". Between utterances the microphone carries a low noise floor
(not digital silence), as a real microphone would. Everything is deterministic from the seed.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import speech_synth
from .language import INTENT_ACTION, TARGET_ACTIONS, Turn, make_turn, route_for
from .scenes import render_scene, sample_scene, spec_to_dict

CAMERA_TOPIC = "/camera/image"
AUDIO_TOPIC = "/audio/input"
IMAGE_TYPE = "sensor_msgs/msg/Image"
AUDIO_TYPE = "tristream_ros/msg/AudioChunk"
CAMERA_RATE_HZ = 10.0
CHUNK_S = 0.05  # 800 samples per AudioChunk at 16 kHz
START_NS = 1_700_000_000_000_000_000  # bag clock of the first message (fixed: deterministic bags)
LEAD_S = 1.0  # microphone noise before the first utterance
GAP_S = 2.5  # silence after each utterance (the assistant answers in it)
NOISE_FLOOR_DBFS = -60.0
DEMO_VOICES = ("m3", "f3", "m1", "f2", "m7", "f4")  # preference order; those in the train split are used
DEMO_LANGUAGE = "en-us"
BAG_DIR = "bag"
TRUTH_FILE = "ground_truth.json"


@dataclass
class DemoBag:
    bag_path: Path
    truth_path: Path
    truth: dict


def demo_voices() -> list[str]:
    train = set(speech_synth.variants_for_split("train"))
    voices = [v for v in DEMO_VOICES if v in train]
    return voices or list(speech_synth.variants_for_split("train"))[:2]


def demo_script(objects, rng: np.random.Generator) -> list[Turn]:
    """The dialogue: command, question, follow-up, object command, count, stop."""
    turns: list[Turn] = []
    command = ("turn_left", "turn_right", "forward", "backward")[int(rng.integers(4))]
    turns.append(make_turn(objects, rng, intent=command))
    follow = make_turn(objects, rng, intent=("go_to_it", "look_at_it")[int(rng.integers(2))])
    if follow.context_query:  # the question it refers to is asked first, as its own utterance
        ci = follow.context_intent
        action = INTENT_ACTION[ci]
        o = objects[follow.referent]
        turns.append(Turn(
            intent=ci, template_id=f"{ci}/context", query=follow.context_query, answer=follow.context_answer,
            action=action, target_uv=tuple(o.centre_uv) if action in TARGET_ACTIONS else None,
            route=route_for(ci, True), spoken=True, referent=follow.referent, needs_vision=True))
    turns.append(follow)
    other = [i for i in range(len(objects)) if i != follow.referent] or [0]
    turns.append(make_turn(objects, rng, intent="go_to", focus=other[int(rng.integers(len(other)))], absent_rate=0.0))
    turns.append(make_turn(objects, rng, intent="count", focus=int(rng.integers(len(objects)))))
    turns.append(make_turn(objects, rng, intent="stop"))
    return turns


def _image_msg(store, frame: np.ndarray, stamp_ns: int, frame_id: str = "camera"):
    types = store.types
    h, w, _ = frame.shape
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)
    return types[IMAGE_TYPE](header=header, height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                             data=np.ascontiguousarray(frame).reshape(-1))


def _audio_msg(store, pcm: np.ndarray, stamp_ns: int, sequence: int, frame_id: str = "microphone"):
    types = store.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)
    data = np.frombuffer(np.clip(np.round(pcm * 32768.0), -32768, 32767).astype("<i2").tobytes(), dtype=np.uint8)
    return types[AUDIO_TYPE](header=header, sample_rate=speech_synth.SAMPLE_RATE, channels=1, sample_format="S16LE",
                             sequence=sequence, utterance_id="", is_final=False, data=data)


def write_demo_bag(out_dir: str | Path, seed: int = 0, storage: str = "sqlite3", overwrite: bool = False,
                   cache_dir: str | Path | None = None, version: int = 8) -> DemoBag:
    """Render the demo scene and dialogue and write the bag plus its ground truth."""
    from ..bag.typestore import typestore
    from ..bag.writer import BagWriter

    out = Path(out_dir)
    bag_path = out / BAG_DIR
    truth_path = out / TRUTH_FILE
    if bag_path.exists():
        if not overwrite:
            raise InputError(f"{str(bag_path)!r} exists; pass overwrite=True (--force) or choose another --out")
        shutil.rmtree(bag_path)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    sr = speech_synth.SAMPLE_RATE

    # --- the scene: three objects, an almost still camera
    spec = sample_scene(int(rng.integers(2**31)), num_objects=3, num_frames=1)
    turns = demo_script(render_scene(spec).objects, rng)

    # --- the microphone track
    voices = demo_voices()
    pieces = [np.zeros(int(LEAD_S * sr), np.float32)]
    cursor = len(pieces[0])
    utterances = []
    for i, turn in enumerate(turns):
        voice = speech_synth.VoiceSpec(language=DEMO_LANGUAGE, variant=voices[i % len(voices)],
                                       speed_wpm=int(rng.integers(140, 171)), pitch=int(rng.integers(40, 61)))
        aug = speech_synth.AugmentSpec(seed=int(rng.integers(2**31)), gain_db=float(rng.uniform(-6, 0)),
                                       noise="pink", snr_db=30.0, lead_silence_s=0.0, trail_silence_s=0.0)
        utt = speech_synth.render_utterance(turn.query, voice, aug, cache_dir)
        start = cursor
        pieces.append(utt.audio)
        cursor += len(utt.audio)
        utterances.append((turn, voice, start, cursor))
        gap = np.zeros(int(GAP_S * sr), np.float32)
        pieces.append(gap)
        cursor += len(gap)
    track = np.concatenate(pieces)
    track += rng.standard_normal(len(track)).astype(np.float32) * 10 ** (NOISE_FLOOR_DBFS / 20)
    track = np.clip(track, -1.0, 1.0)
    duration_s = len(track) / sr

    # --- the camera: re-sample the same scene with enough frames and a slow pan
    num_frames = int(np.floor(duration_s * CAMERA_RATE_HZ)) + 1
    spec = dataclasses.replace(
        spec, num_frames=num_frames, cam_dx=float(rng.uniform(-1, 1)) * 6.0 / num_frames, cam_dy=0.0,
        objects=tuple(dataclasses.replace(o, drift_px=0.0, u0=o.u0) for o in spec.objects))
    scene = render_scene(spec)
    frame_period_ns = int(round(1e9 / CAMERA_RATE_HZ))

    def objects_at(t_ns: int) -> list[dict]:
        k = min(int((t_ns - START_NS) // frame_period_ns), num_frames - 1)
        out_objs = []
        for o in scene.objects:
            x0, y0, x1, y1 = o.bboxes[k]
            out_objs.append({"name": o.name, "bbox": [x0, y0, x1, y1],
                             "centre_uv": [round((x0 + x1) / 2 / spec.image_size, 4), round((y0 + y1) / 2 / spec.image_size, 4)]})
        return out_objs

    store = typestore()
    chunk = int(CHUNK_S * sr)
    n_audio = 0
    with BagWriter(bag_path, storage=storage, version=version) as writer:
        writer.add_topic(CAMERA_TOPIC, IMAGE_TYPE)
        writer.add_topic(AUDIO_TOPIC, AUDIO_TYPE)
        # interleave by time so the bag is in stamp order
        events = [(START_NS + k * frame_period_ns, 0, k) for k in range(num_frames)]
        events += [(START_NS + int(round(j * chunk / sr * 1e9)), 1, j) for j in range((len(track) + chunk - 1) // chunk)]
        for stamp, kind, k in sorted(events):
            if kind == 0:
                msg = _image_msg(store, scene.frames[k], stamp)
                writer.write(CAMERA_TOPIC, IMAGE_TYPE, stamp, store.serialize_cdr(msg, IMAGE_TYPE))
            else:
                pcm = track[k * chunk : (k + 1) * chunk]
                msg = _audio_msg(store, pcm, stamp, k)
                writer.write(AUDIO_TOPIC, AUDIO_TYPE, stamp, store.serialize_cdr(msg, AUDIO_TYPE))
                n_audio += 1

    truth_utts = []
    for i, (turn, voice, s0, s1) in enumerate(utterances):
        end_ns = START_NS + int(round(s1 / sr * 1e9))
        objs = objects_at(end_ns)
        target = None
        if turn.action in TARGET_ACTIONS and turn.referent is not None:
            target = objs[turn.referent]["centre_uv"]
        truth_utts.append({
            "id": f"u{i}",
            "text": turn.query,
            "start_s": round(s0 / sr, 4),
            "end_s": round(s1 / sr, 4),
            "start_ns": START_NS + int(round(s0 / sr * 1e9)),
            "end_ns": end_ns,
            "intent": turn.intent,
            "route": turn.route,
            "context": turn.context,
            "expected_answer": turn.answer,
            "expected_action": turn.action,
            "expected_target_uv": target,
            "referent": None if turn.referent is None else objs[turn.referent]["name"],
            "voice": speech_synth.voice_to_dict(voice),
        })
    truth = {
        "seed": int(seed),
        "bag": BAG_DIR,
        "storage": storage,
        "rosbag2_version": version,
        "start_ns": START_NS,
        "duration_s": round(duration_s, 4),
        "topics": {
            CAMERA_TOPIC: {"type": IMAGE_TYPE, "rate_hz": CAMERA_RATE_HZ, "count": num_frames, "encoding": "rgb8",
                           "width": spec.image_size, "height": spec.image_size, "frame_id": "camera"},
            AUDIO_TOPIC: {"type": AUDIO_TYPE, "sample_rate": sr, "channels": 1, "sample_format": "S16LE",
                          "chunk_samples": chunk, "count": n_audio, "frame_id": "microphone"},
        },
        "objects": [o.to_dict() | {"bboxes": None} for o in scene.objects],
        "scene": spec_to_dict(spec),
        "utterances": truth_utts,
    }
    for o in truth["objects"]:
        del o["bboxes"]
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    return DemoBag(bag_path=bag_path, truth_path=truth_path, truth=truth)
