"""The synthetic tri-modal dataset: splits, one-sample generator, on-disk writer and reader.

Splits hold out three things, so that the test set measures generalisation:
- voices: espeak-ng variants are split three ways (train / val / test, disjoint; accents shared),
- phrasings: val and test queries use only the held-out templates of ``language``,
- colour/kind combinations: ``HELDOUT_COMBOS`` never appear in training scenes (nor are they
  named in training text); every val/test scene contains at least one, and its query is
  preferably about it.
Val and test share the held-out phrasings and combinations, but not voices.

On disk (``DIR``)::

    DIR/info.json                      seed, counts, voices per split, held-out lists
    DIR/<split>/manifest.jsonl         one JSON row per sample (no arrays)
    DIR/<split>/frames/<id>.npz        frames (T, H, W, 3) uint8     (frames="npz")
    DIR/<split>/audio/<id>.wav         16 kHz 16-bit mono            (spoken samples only)

With ``frames="render"`` no frame files are written: the reader re-renders them from the scene
spec stored in the manifest (same pixels, ~45 ms per sample, ~0.6 MB less disk per sample).

Each sample is generated from ``(seed, split, index)`` alone, so any sample can be regenerated
by itself and generation parallelises over a process pool.

Training pools (not written to DIR, drawn by the training phases) take seed streams of their
own, tagged after the seed so they never share a random stream with a split (splits use tags
0-2): the scene pool (``extra_scene_spec``, tag 11), phase 1's unnamed-colour pool
(``unnamed_colour_scene_spec``, 12), the CTC's speech pool (``speech_pool_sample``, 13), the
kind read-out's over-bright pool (``bright_scene_spec``, 14), the colour read-out's
two-tone pool (``banded_scene_spec``, 15) and the recogniser's recombined-text speech
(``recombined_pool_sample``, 16).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from . import language, scenes, speech_synth
from .language import make_turn
from .scenes import COLOURS, KINDS, ObjectTruth, render_scene, sample_scene, spec_from_dict, spec_to_dict

SPLITS = ("train", "val", "test")
SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}
HELDOUT_COMBOS: tuple[tuple[str, str], ...] = (  # (colour, kind) never in training scenes
    ("red", "cup"), ("green", "cone"), ("blue", "ball"), ("yellow", "bottle"),
    ("orange", "box"), ("purple", "bottle"), ("white", "ball"),
)
ALL_COMBOS: tuple[tuple[str, str], ...] = tuple((c, k) for c in COLOURS for k in KINDS)
TRAIN_COMBOS: tuple[tuple[str, str], ...] = tuple(c for c in ALL_COMBOS if c not in HELDOUT_COMBOS)
MANIFEST = "manifest.jsonl"
INFO = "info.json"
FRAME_FORMATS = ("npz", "render")
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """Where clean espeak-ng WAVs are cached (``$XDG_CACHE_HOME/tristream/espeak``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tristream" / "espeak"


@dataclass(frozen=True)
class GeneratorConfig:
    """How samples are drawn (the defaults are the shipped recipe)."""

    seed: int = 0
    typed_rate: float = 0.2  # share of scene / follow-up queries that are typed (no audio, route vision)
    augment_rate: float = 0.85  # share of spoken queries with noise/reverb/gain augmentation
    num_frames: int = scenes.NUM_FRAMES
    image_size: int = scenes.IMAGE_SIZE

    def __post_init__(self) -> None:
        if not 0.0 <= self.typed_rate <= 1.0:
            raise InputError(f"typed_rate={self.typed_rate} must be in [0, 1]")
        if not 0.0 <= self.augment_rate <= 1.0:
            raise InputError(f"augment_rate={self.augment_rate} must be in [0, 1]")


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    if split not in SPLIT_INDEX:
        raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_INDEX[split], int(index)]))


SCENE_POOL_TAG, UNNAMED_POOL_TAG, SPEECH_POOL_TAG, BRIGHT_POOL_TAG, BANDED_POOL_TAG = 11, 12, 13, 14, 15
RECOMBINED_POOL_TAG = 16
PICO_POOL_TAG = 17
# seed-stream tags of the training pools


def pool_rng(seed: int, tag: int, index: int) -> np.random.Generator:
    """Generator of item `index` of the training pool `tag` (never a split's stream: tags 0-2)."""
    if tag in SPLIT_INDEX.values():
        raise InputError(f"pool tag {tag} is a split's seed stream")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(tag), int(index)]))


def extra_scene_spec(seed: int, index: int, image_size: int = scenes.IMAGE_SIZE):
    """Scene `index` of the scene-only training pool (no query, no speech): training colour/kind
    pairs only, from a seed stream of its own, so it never repeats a dataset scene. Phase 1 and
    phase 2 draw extra scenes here."""
    scene_seed = int(pool_rng(seed, SCENE_POOL_TAG, index).integers(2**31))
    return sample_scene(scene_seed, allowed_combos=TRAIN_COMBOS, image_size=image_size)


UNNAMED_COMBOS: tuple[tuple[str, str], ...] = tuple((c, k) for c in scenes.UNNAMED_COLOURS for k in KINDS)


def unnamed_colour_scene_spec(seed: int, index: int, image_size: int = scenes.IMAGE_SIZE):
    """Scene `index` of phase 1's unnamed-colour pool: every object in a colour no query names
    (``scenes.UNNAMED_COLOURS``), every kind in every such colour, from a seed stream of its
    own: kind without colour as a shortcut. Held-out pairs are never drawn."""
    scene_seed = int(pool_rng(seed, UNNAMED_POOL_TAG, index).integers(2**31))
    return sample_scene(scene_seed, allowed_combos=UNNAMED_COMBOS, image_size=image_size)


BRIGHT_GAIN = (1.1, 1.6)  # range of the albedo gain of the over-bright pool's objects (x the usual tint)


def bright_scene_spec(seed: int, index: int, image_size: int = scenes.IMAGE_SIZE,
                      gain: tuple[float, float] = BRIGHT_GAIN):
    """Scene `index` of the over-bright pool (the kind read-out's re-fit, training/kind_readout.py):
    training pairs and unnamed colours whose objects' albedo is scaled by a gain drawn from
    `gain` per object (the renderer clips each channel at 1), as paint brighter than the palette
    or an over-exposed camera would show them. A yellow ball at x1.5 is (255, 255, 50): as bright
    in luminance as the palette's white, which no training ball reaches otherwise (yellow, the
    brightest, reaches 194 of 255), so shape cannot be read off brightness. Colour labels do not
    hold under the gain (it moves hue towards white); the pool is labelled for kind only.
    Held-out pairs are never drawn."""
    if not 0 < gain[0] <= gain[1]:
        raise InputError(f"bright_scene_spec: gain range {gain}; expected 0 < low <= high")
    rng = pool_rng(seed, BRIGHT_POOL_TAG, index)
    spec = sample_scene(int(rng.integers(2**31)), allowed_combos=TRAIN_COMBOS + UNNAMED_COMBOS,
                        image_size=image_size)
    gains = rng.uniform(gain[0], gain[1], size=len(spec.objects))
    return replace(spec, objects=tuple(replace(o, tint=tuple(float(t * g) for t in o.tint))
                                       for o, g in zip(spec.objects, gains)))


BANDED_COMBOS: tuple[tuple[str, str], ...] = tuple(c for c in TRAIN_COMBOS if c[1] != "cone")


def banded_scene_spec(seed: int, index: int, image_size: int = scenes.IMAGE_SIZE):
    """Scene `index` of the two-tone pool (the colour read-out's re-fit, training/colour_readout.py):
    training pairs of every kind but the cone, each object drawn with the white band every cone
    has (``ObjectSpec.band``), labelled with its body colour. In training, only cones carry a
    white band, and green cones are held out, so "green with a white band" was never seen and the
    read-out named a green cone's tokens "white" as often as "green" (0.32 right on 600 val
    scenes, session 16); here a green ball, box, cup and bottle show it under their own colour.
    Held-out pairs are never drawn."""
    rng = pool_rng(seed, BANDED_POOL_TAG, index)
    spec = sample_scene(int(rng.integers(2**31)), allowed_combos=BANDED_COMBOS, image_size=image_size)
    return replace(spec, objects=tuple(replace(o, band=True) for o in spec.objects))


def _speak(text: str, rng: np.random.Generator, split: str, config: GeneratorConfig,
           cache_dir: str | Path | None = None) -> speech_synth.Utterance:
    """`text` spoken by a voice of `split`, augmented (noise / reverb / gain) at the config's rate,
    else clean with random silence around it; voice and augmentation drawn from `rng` in this order."""
    voice = speech_synth.sample_voice(rng, split)
    return speech_synth.render_utterance(text, voice, _draw_augment(rng, config), cache_dir)


def _draw_augment(rng: np.random.Generator, config: GeneratorConfig) -> speech_synth.AugmentSpec:
    """Noise / reverb / gain augmentation at the config's rate, else clean with random silence
    around the speech (the same draws for every engine's utterances)."""
    if rng.random() < config.augment_rate:
        return speech_synth.sample_augment(rng)
    return speech_synth.AugmentSpec.clean(float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.15, 0.6)))


def generate_sample(split: str, index: int, config: GeneratorConfig = GeneratorConfig(),
                    cache_dir: str | Path | None = None, with_frames: bool = True,
                    rng: np.random.Generator | None = None) -> dict:
    """Generate one sample (see ``DatasetReader`` for the dict format); `rng` replaces the
    sample's own stream (the training pools)."""
    rng = rng if rng is not None else sample_rng(config.seed, split, index)
    scene_seed = int(rng.integers(2**31))
    held = split != "train"
    if held:
        required = [HELDOUT_COMBOS[int(rng.integers(len(HELDOUT_COMBOS)))]]
        spec = sample_scene(scene_seed, allowed_combos=ALL_COMBOS, required=required,
                            num_frames=config.num_frames, image_size=config.image_size)
    else:
        spec = sample_scene(scene_seed, allowed_combos=TRAIN_COMBOS,
                            num_frames=config.num_frames, image_size=config.image_size)
    rendered = render_scene(spec)
    objects = rendered.objects
    focus = None
    if held:
        focus = next((i for i, o in enumerate(objects) if (o.colour, o.kind) in HELDOUT_COMBOS), None)
    intent = language.sample_intent(rng)
    spoken = intent in language.SPEECH_INTENTS or rng.random() >= config.typed_rate
    turn = make_turn(objects, rng, intent=intent, spoken=spoken, phrasing="heldout" if held else "train",
                     focus=focus, allowed_combos=ALL_COMBOS if held else TRAIN_COMBOS)
    audio = None
    voice = aug = None
    start = end = None
    if turn.spoken:
        utt = _speak(turn.query, rng, split, config, cache_dir)
        voice, aug = utt.voice, utt.augment
        audio, start, end = utt.audio, utt.speech_start_s, utt.speech_end_s
    sample = {
        "id": f"{split}-{index:06d}",
        "split": split,
        "frames": rendered.frames if with_frames else None,
        "audio": audio,
        "sample_rate": speech_synth.SAMPLE_RATE,
        **{k: v for k, v in turn.to_dict().items()},
        "target_uv": None if turn.target_uv is None else tuple(float(c) for c in turn.target_uv),
        "speech_start_s": start,
        "speech_end_s": end,
        "voice": speech_synth.voice_to_dict(voice) if voice else None,
        "augment": speech_synth.augment_to_dict(aug) if aug else None,
        "objects": [o.to_dict() for o in objects],
        "scene": spec_to_dict(spec),
    }
    return sample


def speech_pool_sample(seed: int, index: int, config: GeneratorConfig = GeneratorConfig()) -> dict | None:
    """Item `index` of the CTC's speech pool: a training sample (training voices, phrasings and
    colour/kind pairs, the dataset's augmentation) from the pool's own seed stream, without
    frames; None when the sampled query is typed (no audio)."""
    sample = generate_sample("train", index, config, with_frames=False, rng=pool_rng(seed, SPEECH_POOL_TAG, index))
    if sample["audio"] is None:
        return None
    sample["id"] = f"speechpool-{index:06d}"
    return sample


def recombined_pool_sample(seed: int, index: int, config: GeneratorConfig = GeneratorConfig()) -> dict:
    """Item `index` of the recogniser's recombined-speech pool: a recombined word sequence
    (data.recombined_text: training phrasings' words in new orders, never a held-out query)
    spoken by a training voice with the dataset's augmentation; no scene, no answer."""
    from .recombined_text import recombined_sentence

    rng = pool_rng(seed, RECOMBINED_POOL_TAG, index)
    text = recombined_sentence(rng)
    utt = _speak(text, rng, "train", config)
    return {"id": f"recombined-{index:06d}", "query": text, "audio": utt.audio,
            "speech_start_s": utt.speech_start_s, "speech_end_s": utt.speech_end_s,
            "voice": speech_synth.voice_to_dict(utt.voice), "augment": speech_synth.augment_to_dict(utt.augment)}


PICO_RECOMBINED_RATE = 0.4  # share of the Pico pool speaking recombined text (the rest: training queries)
PICO_PITCH = (60, 160)  # percent of the Pico voice's own pitch, log-uniform
PICO_RATE = (75, 135)  # percent of the Pico voice's own speaking rate, log-uniform


def pico_pool_sample(seed: int, index: int, config: GeneratorConfig = GeneratorConfig()) -> dict | None:
    """Item `index` of the recogniser's Pico pool: a training query (training phrasings and
    colour/kind pairs) or, PICO_RECOMBINED_RATE of the time, recombined text, spoken by SVOX
    Pico (data/pico_synth.py: HMM voices of two real speakers, en-US and en-GB) at a random pitch
    and rate, with the dataset's augmentation; no scene. None when the drawn query is typed.

    The shipped recogniser has heard espeak-ng's formant voices only: its CTC alone picks the right
    sentence for 8 of 60 Pico, 40 of 150 flite and 22 of 90 Festival utterances (pocketsphinx: 58,
    150, 89). With 4000 of these items: 45, 70, 43; not shipped (docs/training.md, session 23)."""
    from . import pico_synth
    from .recombined_text import recombined_sentence

    rng = pool_rng(seed, PICO_POOL_TAG, index)
    if rng.random() < PICO_RECOMBINED_RATE:
        text = recombined_sentence(rng)
    else:
        spec = sample_scene(int(rng.integers(2**31)), allowed_combos=TRAIN_COMBOS,
                            num_frames=config.num_frames, image_size=config.image_size)
        intent = language.sample_intent(rng)
        if not (intent in language.SPEECH_INTENTS or rng.random() >= config.typed_rate):
            return None
        turn = make_turn(render_scene(spec).objects, rng, intent=intent, spoken=True, phrasing="train",
                         allowed_combos=TRAIN_COMBOS)
        text = turn.query
    voice = pico_synth.DEFAULT_VOICES[int(rng.integers(len(pico_synth.DEFAULT_VOICES)))]
    pitch = int(round(np.exp(rng.uniform(np.log(PICO_PITCH[0]), np.log(PICO_PITCH[1])))))
    rate = int(round(np.exp(rng.uniform(np.log(PICO_RATE[0]), np.log(PICO_RATE[1])))))
    clean = pico_synth.pico_synthesize(text, voice, pitch, rate)
    aug = _draw_augment(rng, config)
    audio, start, end = speech_synth.augment(clean, aug)
    return {"id": f"picopool-{index:06d}", "query": text, "audio": audio, "speech_start_s": start,
            "speech_end_s": end, "voice": {"engine": "pico", "voice": voice, "pitch": pitch, "rate": rate},
            "augment": speech_synth.augment_to_dict(aug)}


# ----------------------------------------------------------------------------- writing

ARRAY_KEYS = ("frames", "audio")


def write_sample(root: str | Path, sample: dict, frames: str = "npz") -> dict:
    """Write ``sample``'s arrays under ``root/<split>/``; return its manifest row."""
    if frames not in FRAME_FORMATS:
        raise InputError(f"unknown frames format {frames!r}; expected one of {FRAME_FORMATS}")
    split_dir = Path(root) / sample["split"]
    row = {k: v for k, v in sample.items() if k not in ARRAY_KEYS}
    row["frames_file"] = None
    row["audio_file"] = None
    if frames == "npz":
        rel = f"frames/{sample['id']}.npz"
        (split_dir / "frames").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(split_dir / rel, frames=sample["frames"])
        row["frames_file"] = rel
    if sample["audio"] is not None:
        rel = f"audio/{sample['id']}.wav"
        (split_dir / "audio").mkdir(parents=True, exist_ok=True)
        speech_synth.write_wav(split_dir / rel, sample["audio"])
        row["audio_file"] = rel
        row["audio_duration_s"] = round(len(sample["audio"]) / speech_synth.SAMPLE_RATE, 4)
    return row


def _job(args) -> dict:
    root, split, index, config, cache_dir, frames = args
    sample = generate_sample(split, index, config, cache_dir, with_frames=frames == "npz")
    return write_sample(root, sample, frames)


def generate_dataset(out: str | Path, counts: dict[str, int], config: GeneratorConfig = GeneratorConfig(),
                     cache_dir: str | Path | None = None, processes: int = 2, frames: str = "npz",
                     progress: bool = True) -> dict:
    """Write ``counts`` = {"train": N, "val": V, "test": M} samples to ``out``; return info.json."""
    for split, n in counts.items():
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
        if n < 0:
            raise InputError(f"{split} count {n} must be >= 0")
    speech_synth.check_espeak()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    cache = str(cache_dir if cache_dir is not None else default_cache_dir())
    Path(cache).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = [(str(root), split, i, config, cache, frames) for split in SPLITS for i in range(counts.get(split, 0))]
    handles = {}
    for split in SPLITS:
        if counts.get(split, 0):
            (root / split).mkdir(parents=True, exist_ok=True)
            handles[split] = open(root / split / (MANIFEST + ".tmp"), "w")
    pool = get_context("fork").Pool(processes) if processes > 1 and len(jobs) > 1 else None
    try:
        rows = pool.imap(_job, jobs, chunksize=4) if pool is not None else map(_job, jobs)
        if progress:
            from tqdm import tqdm

            rows = tqdm(rows, total=len(jobs), desc="generate", unit="sample")
        for row in rows:  # in job order: manifests are deterministic whatever the pool does
            handles[row["split"]].write(json.dumps(row) + "\n")
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        if pool is not None:
            pool.terminate()  # no-op after join; stops workers on error / Ctrl-C
        for h in handles.values():
            h.close()
    for split in handles:
        os.replace(root / split / (MANIFEST + ".tmp"), root / split / MANIFEST)
    info = {
        "format_version": FORMAT_VERSION,
        "seed": config.seed,
        "counts": {s: counts.get(s, 0) for s in SPLITS},
        "frames": frames,
        "num_frames": config.num_frames,
        "image_size": config.image_size,
        "sample_rate": speech_synth.SAMPLE_RATE,
        "typed_rate": config.typed_rate,
        "augment_rate": config.augment_rate,
        "espeak_version": speech_synth.espeak_version(),
        "voices": {s: {"languages": list(speech_synth.LANGUAGES), "variants": list(speech_synth.variants_for_split(s))}
                   for s in SPLITS},
        "heldout_combos": [list(c) for c in HELDOUT_COMBOS],
        "phrasings": {"train": "train", "val": "heldout", "test": "heldout"},
        "seconds": round(time.perf_counter() - t0, 2),
        "processes": processes,
    }
    (root / INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


# ----------------------------------------------------------------------------- reading


class DatasetReader:
    """Read one split of a dataset written by ``generate_dataset``.

    ``reader[i]`` / iteration yields dicts::

        id            "test-000012"
        split         "train" | "val" | "test"
        frames        (T, H, W, 3) uint8 RGB, the last frame is "now"
        audio         (N,) float32 in [-1, 1] at sample_rate, or None for typed queries
        sample_rate   16000
        query         what the user said or typed ("go to the red ball")
        context       previous turn, f"{context_query} <sep> {context_answer}", or ""
        context_query, context_answer
        answer        expected answer text ("going to the red ball")
        action        stop | forward | backward | turn_left | turn_right | navigate_to | look_at | none
        target_uv     (u, v) normalized target for navigate_to / look_at, else None
        route         cheapest sufficient expert: speech | vision | speech_vision | trimodal
        intent, template_id, spoken, needs_vision, referent (index into objects or None)
        speech_start_s, speech_end_s   voiced span inside audio (None when typed)
        voice, augment   synthesis parameters (dicts) or None
        objects       ground truth, left to right: kind, colour, size, bbox, centre_uv, region, bboxes
        scene         the SceneSpec as a dict (``scenes.spec_from_dict``)
    """

    def __init__(self, root: str | Path, split: str = "train", load_arrays: bool = True):
        self.root = Path(root)
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.split = split
        self.load_arrays = load_arrays
        path = self.root / split / MANIFEST
        if not path.exists():
            raise InputError(f"no {MANIFEST} for split {split!r} under {str(self.root)!r}; run `tristream generate dataset`")
        with open(path) as f:
            self.rows = [json.loads(line) for line in f if line.strip()]
        info_path = self.root / INFO
        self.info = json.loads(info_path.read_text()) if info_path.exists() else {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        sample = {k: v for k, v in row.items() if k not in ("frames_file", "audio_file", "audio_duration_s")}
        if sample.get("target_uv") is not None:
            sample["target_uv"] = tuple(sample["target_uv"])
        sample["frames"] = None
        sample["audio"] = None
        if not self.load_arrays:
            return sample
        split_dir = self.root / self.split
        if row.get("frames_file"):
            with np.load(split_dir / row["frames_file"]) as z:
                sample["frames"] = z["frames"]
        else:
            sample["frames"] = render_scene(spec_from_dict(row["scene"])).frames
        if row.get("audio_file"):
            sample["audio"] = speech_synth.read_wav(split_dir / row["audio_file"])
        return sample

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]


def objects_of(sample: dict) -> list[ObjectTruth]:
    return [ObjectTruth.from_dict(o) for o in sample["objects"]]
