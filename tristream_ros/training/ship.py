"""Copy a finished run into the shipped checkpoint folder (models/demo) with its recipe.

    python -m tristream_ros.training.ship --run runs/demo --model models/demo --seed 0

models/demo/ then holds: model.safetensors, config.json, vocab.json (load_checkpoint),
(float32 weights stored as float16), speech.safetensors (the SpeechModel: streaming encoder, CTC head, adapter; config in
config.json["speech"]), ctc_grammar.json (the hybrid front end's override thresholds, when
calibrated), frontend.json (the default speech front end), eval.json, recipe.json
(config, seed, commands, per-step wall-clock, machine) and the loss curves (*.png).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

SHIP_FILES = ("model.safetensors", "config.json", "vocab.json", "speech.safetensors")
# the hybrid's thresholds (calibrate_grammar --write) and the budget sweep (calibrate_budget --write)
# when those ran on phase3/
OPTIONAL_FILES = ("ctc_grammar.json", "budget_calibration.json", "budget_calibration.png",
                  "existence_calibration.json", "existence_calibration.png", "recognizer.safetensors",
                  "recognizer_loss.png", "recognizer_continued_loss.png", "voice_gate.json")
KIND_DIR = "kind_readout"  # RUN/out/KIND_DIR: training/kind_readout.py's --run in scripts/train_demo.sh
COLOUR_DIR = "colour_readout"  # RUN/out/COLOUR_DIR: training/colour_readout.py's --run (session 17)
READOUT_DIRS = (KIND_DIR, COLOUR_DIR)  # the read-out steps after phase 3, in the order they run
FRONTEND = {
    "speech_frontend": "hybrid",
    "text": "pocketsphinx (en-US acoustic model of real speech) with a JSGF grammar of "
            "tristream_ros.data.language.all_queries() (search beam pocketsphinx.beam, 1e-80); replaced by the best of the same sentences "
            "scored by recognizer.safetensors' CTC (speech.safetensors' when the folder has no recogniser; "
            "training/recognizer.py) when its per-frame log-likelihood and lead over the "
            "runner-up and over pocketsphinx's sentence clear the thresholds in ctc_grammar.json "
            "(training/calibrate_grammar.py), and only for voices voice_gate.json judges espeak-like "
            "(model/speech/voice_gate.py, training/voice_gate.py; session 31)",
    "speech_tokens": "speech.safetensors: streaming encoder + k=5 adapter over the recognised sentence spoken "
                     "by a training espeak-ng voice (model/speech/respoken.py; speech.tokens_from: respoken), "
                     "or over the user's audio (tokens_from: audio)",
    "endpointing": "silero VAD; the end is held up to VadConfig.incomplete_hold_ms while pocketsphinx's "
                   "partial is only the beginning of a grammar sentence",
    "live_transcript": "pocketsphinx partials (in ctc_text the CTC of recognizer.safetensors, or of "
                       "speech.safetensors when the folder has no recogniser)",
    "build": "tristream_ros.training.evaluate.build_frontend(speech_model, 'hybrid', model_dir) "
             "(= speech_tokenizer_node defaults)",
}


def load_shipped(folder: str | Path):
    """-> (TriStreamModel, SpeechModel), both in eval mode."""
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.training.evaluate import load_speech_model
    model = load_checkpoint(folder)
    return model, load_speech_model(folder, model.config)


def _half_copy(src: Path, dst: Path) -> None:
    """Copy a safetensors file with float32 tensors stored as float16 (half the size; the
    loaders cast back to the model's float32). Evaluate the shipped copy, not the source."""
    import torch
    from safetensors.torch import load_file, save_file
    tensors = load_file(str(src))
    half = {k: (v.half() if v.dtype == torch.float32 else v).contiguous() for k, v in tensors.items()}
    save_file(half, str(dst), metadata={"format": "pt", "tristream": "checkpoint-v1", "stored_dtype": "float16"})


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ship(run: Path, model: Path, seed: int, note: str = "") -> dict:
    import torch
    src = run / "out" / "phase3"
    model.mkdir(parents=True, exist_ok=True)
    for name in SHIP_FILES:
        if name.endswith(".safetensors"):
            _half_copy(src / name, model / name)
        else:
            shutil.copy(src / name, model / name)
    for name in OPTIONAL_FILES:
        if (src / name).is_file() and name.endswith(".safetensors"):
            _half_copy(src / name, model / name)
        elif (src / name).is_file():
            shutil.copy(src / name, model / name)
        elif (model / name).is_file():
            (model / name).unlink()  # calibrated for weights that are being replaced
    # the phases' curves, then the kind read-out step's (its count re-fit replaces phase 3's) and
    # the colour read-out step's (its fit replaces phase 3's colour re-fit)
    curves = sorted((run / "out").glob("phase*/*_loss.png"))
    for step in READOUT_DIRS:
        curves += sorted((run / "out" / step).glob("*_loss.png"))
    for png in curves:
        shutil.copy(png, model / png.name)
    if (run / "eval.json").is_file():
        shutil.copy(run / "eval.json", model / "eval.json")
    (model / "frontend.json").write_text(json.dumps(FRONTEND, indent=1) + "\n")
    steps = []
    times = run / "times.tsv"
    if times.is_file():
        for line in times.read_text().splitlines():
            name, secs, cmd = line.split("\t", 2)
            steps.append({"step": name, "seconds": float(secs), "command": cmd})
    summaries = {p.parent.name: json.loads(p.read_text()) for p in sorted((run / "out").glob("phase*/summary.json"))}
    info = json.loads((run / "data" / "info.json").read_text()) if (run / "data" / "info.json").is_file() else {}
    recipe = {
        "config": "demo", "seed": seed, "script": "scripts/train_demo.sh",
        "dataset": {k: info.get(k) for k in ("counts", "seed", "frames", "espeak_version")},
        "steps": steps, "wall_clock_s": round(sum(s["seconds"] for s in steps), 1), "note": note,
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads_per_process": 1,
                    "torch": torch.__version__, "python": sys.version.split()[0], "platform": platform.platform()},
        "phases": {k: {kk: v.get(kk) for kk in ("steps", "seconds", "seconds_total", "timings", "final_loss",
                                                 "ctc_train_cer", "preference_accuracy_last20", "colour_readout",
                                                 "count_readout")
                                  if kk in v}
                   for k, v in summaries.items()},
    }
    readouts = readout_summaries(run / "out")
    if readouts:
        recipe["readouts"] = readouts
    (model / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")
    return recipe


def readout_summaries(out: Path) -> dict:
    """The read-out steps' summaries after phase 3 (OUT/kind_readout/kind_readout.json,
    OUT/colour_readout/colour_readout.json; their fits replace phase 3's): per step and fit, the
    options, held-out scores before / after and seconds."""
    found = {}
    for step in READOUT_DIRS:
        path = out / step / f"{step}.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        found[step] = {"seconds_total": summary.get("seconds_total")} | {
            fit: {k: v.get(k) for k in ("options", "heldout_before", "heldout_after", "scenes_fit", "unnamed_scenes",
                                       "banded_scenes", "banded_per_batch") if k in v}
            for fit, v in summary.items() if isinstance(v, dict)}
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--note", default="", help="free text stored in recipe.json")
    a = p.parse_args(argv)
    r = ship(Path(a.run), Path(a.model), a.seed, a.note)
    print(json.dumps({"wall_clock_s": r["wall_clock_s"], "steps": r["steps"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
