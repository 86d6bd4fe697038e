"""Fit the voice gate (model/speech/voice_gate.py): espeak training voices vs real people.

Positives: `--espeak` utterances of the grammar's queries by espeak-ng training voices with the
training set's room augmentation (data/speech_synth: what our CTC learnt from); a further
`--espeak-val` by the held-out val voices check it. Negatives: every WAV in the `--real` folders
(real human speech, e.g. docs/real_speech's collection from the package registries), but files
whose name starts with an `--exclude` prefix (kept out to test on: the Asterisk speaker of the
spliced commands). The fit is an L2-regularised logistic regression (L-BFGS, classes weighted
equally). Leave-one-source-out over the real files (a source = the file name without its last
"_" part) says how it judges speakers it has not seen; `--check` folders are judged by the final
gate and reported beside it.

    python -m tristream_ros.training.voice_gate --real /path/real355 --exclude asterisk \
        --check tristream_ros/data/recordings/spliced --out models/demo/voice_gate.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tristream_ros.errors import InputError
from tristream_ros.model.speech.voice_gate import FEATURE_NAMES, VoiceGate, voice_features

L2 = 1e-2  # on the standardised weights


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of a logistic regression on standardised x, classes weighted equally."""
    import torch

    if len(set(y.tolist())) != 2:
        raise InputError("the voice gate needs espeak and real utterances both")
    mean, scale = x.mean(0), x.std(0) + 1e-6
    a = torch.tensor((x - mean) / scale, dtype=torch.float64)
    t = torch.tensor(y, dtype=torch.float64)
    pos = float(t.mean())
    wt = torch.where(t > 0.5, 0.5 / pos, 0.5 / (1.0 - pos))
    w = torch.zeros(a.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps)

    def closure():
        opt.zero_grad()
        z = a @ w + b
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none")).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean, scale, w.detach().numpy().copy(), float(b.detach()[0])


def espeak_features(n: int, split: str, seed: int, progress: bool = True) -> np.ndarray:
    from tqdm import tqdm

    from tristream_ros.data.language import all_queries
    from tristream_ros.data.speech_synth import render_utterance, sample_augment, sample_voice

    rng = np.random.default_rng(seed)
    queries = all_queries()
    rows = []
    for _ in tqdm(range(n), desc=f"espeak {split} voices", disable=not progress):
        voice, aug = sample_voice(rng, split), sample_augment(rng)
        rows.append(voice_features(render_utterance(queries[int(rng.integers(len(queries)))], voice, aug).audio))
    return np.asarray(rows)


def folder_features(folders: list[str], exclude: tuple[str, ...] = (), progress: bool = True) -> tuple[np.ndarray, list[str]]:
    from tqdm import tqdm

    from tristream_ros.signal.audio_file import load_audio

    files = []
    for folder in folders:
        p = Path(folder)
        if not p.is_dir():
            raise InputError(f"{folder}: not a folder of WAV files")
        files += [f for f in sorted(p.glob("*.wav")) if not f.name.startswith(tuple(exclude))]
    if not files:
        raise InputError(f"no WAV files in {folders}")
    feats, names = [], []
    for f in tqdm(files, desc="real recordings", disable=not progress):
        try:
            feats.append(voice_features(load_audio(f)))
            names.append(f.name)
        except InputError:  # too short to judge: the gate passes such audio anyway
            continue
    return np.asarray(feats), names


def source_of(name: str) -> str:
    return Path(name).stem.rsplit("_", 1)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", action="append", required=True, help="folder of real human speech WAVs (repeatable)")
    ap.add_argument("--exclude", action="append", default=[], help="leave out real files whose name starts so")
    ap.add_argument("--check", action="append", default=[], help="folder of real WAVs to judge, not fit on")
    ap.add_argument("--espeak", type=int, default=400, help="espeak training-voice utterances")
    ap.add_argument("--espeak-val", type=int, default=200, help="espeak val-voice utterances (checked, not fitted)")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--out", required=True, help="voice_gate.json to write")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    pos = espeak_features(args.espeak, "train", args.seed)
    val = espeak_features(args.espeak_val, "val", args.seed + 1)
    neg, names = folder_features(args.real, tuple(args.exclude))
    sources = np.array([source_of(n) for n in names])
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])

    def gate_of(fit) -> VoiceGate:
        mean, scale, w, b = fit
        return VoiceGate(tuple(mean.tolist()), tuple(scale.tolist()), tuple(w.tolist()), b, args.threshold)

    loso = np.zeros(len(neg))
    for s in sorted(set(sources)):  # each real source judged by a gate fitted without it
        keep = np.concatenate([np.ones(len(pos), bool), sources != s])
        g = gate_of(fit_logistic(x[keep], y[keep]))
        for i in np.flatnonzero(sources == s):
            loso[i] = g.probability_of(neg[i])
    gate = gate_of(fit_logistic(x, y))
    familiar = lambda f: float(np.mean([gate.probability_of(r) >= gate.threshold for r in f])) if len(f) else None
    checks = {}
    for folder in args.check:
        f, _ = folder_features([folder], progress=False)
        checks[folder] = {"n": len(f), "judged_espeak_like": familiar(f)}
    report = {
        "tool": "python -m tristream_ros.training.voice_gate", "argv": sys.argv[1:] if argv is None else argv,
        "espeak_train": {"n": len(pos), "judged_espeak_like": familiar(pos)},
        "espeak_val_voices": {"n": len(val), "judged_espeak_like": familiar(val)},
        "real_leave_one_source_out": {"n": len(neg), "sources": len(set(sources)),
                                      "judged_espeak_like": float(np.mean(loso >= args.threshold)),
                                      "per_source": {s: round(float(np.mean(loso[sources == s] >= args.threshold)), 3)
                                                     for s in sorted(set(sources))}},
        "real_fitted": {"n": len(neg), "judged_espeak_like": familiar(neg)},
        "checks": checks, "seconds": round(time.perf_counter() - t0, 1),
    }
    gate = VoiceGate(gate.mean, gate.scale, gate.weights, gate.bias, gate.threshold, FEATURE_NAMES, report)
    gate.save(args.out)
    print(json.dumps({k: v for k, v in report.items() if k != "real_leave_one_source_out"}, indent=1))
    print("real, leave one source out: judged espeak-like", round(report["real_leave_one_source_out"]["judged_espeak_like"], 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
