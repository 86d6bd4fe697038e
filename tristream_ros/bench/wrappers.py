"""`tristream bench wrappers`: what listening for command wrappers ("robot, stop") costs.

    tristream bench wrappers --json [--model models/demo] [--repeats 2] [--queries 10]

The shipped hybrid front end transcribes each utterance three times per repeat, with
speech.command_wrappers on (the default: a second pocketsphinx decoder while the user speaks, in
a child process since session 30, and at the end the alignment check and our CTC's veto), on with
that decoder in this process (speech.wrapper_decoder_process false) and, as the in-run baseline,
off, alternating so all see the same machine load. Sets: espeak-ng test voices saying held-out
queries (no wrappers: the cost where nothing is gained), flite voices saying the same queries
inside wrapper words (evaluate_tts.wrapped_queries), and the packaged real recordings (real
people, mostly out of the domain). Reported per set, on / off and their ratio: the median
`finalize_ms` (compute after the last audio chunk; offline the whole utterance arrives at once,
so with the child this includes its catching up, which a live stream does not have), the CPU
seconds per second of audio of the whole transcription (streaming decode included: the second
decoder's share, the child's CPU read from /proc) and the wall seconds per second of audio (the
child decodes beside this process); whether the child and the in-process decoder gave the same
text; plus how often
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


def _child_cpu(tok) -> float:
    rec = getattr(tok, "wrapper_recognizer", None)
    return rec.cpu_seconds() if hasattr(rec, "cpu_seconds") else 0.0


def _timed(tok, audio):
    """-> (utterance, CPU s of this process and of the wrapper decoder's child, wall s)"""
    c0, k0, w0 = time.process_time(), _child_cpu(tok), time.perf_counter()
    u = tok.transcribe(audio)
    return u, time.process_time() - c0 + _child_cpu(tok) - k0, time.perf_counter() - w0


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    set_threads(args.threads)
    model_dir = Path(args.model) if args.model else Path(__file__).resolve().parents[2] / "models" / "demo"
    _, speech = load_shipped(model_dir)
    # on: the default (the wrapper decoder in a child process); on_here: the same decoder in this
    # process (speech.wrapper_decoder_process false); off: no wrapper decoder, the baseline
    fronts = {"on": build_frontend(speech, "hybrid", model_dir, command_wrappers=True, wrapper_process=True),
              "on_here": build_frontend(speech, "hybrid", model_dir, command_wrappers=True, wrapper_process=False),
              "off": build_frontend(speech, "hybrid", model_dir, command_wrappers=False)}
    result = {"benchmark": "wrappers", "machine": machine(), "model": str(model_dir), "sets": {}}
    for name, items in _sets(args.queries).items():
        fin = {k: [] for k in fronts}
        cpu = {k: 0.0 for k in fronts}
        wall = {k: 0.0 for k in fronts}
        right = {k: 0 for k in fronts}
        taken, seconds, n, same = 0, 0.0, 0, 0
        for _ in range(max(1, args.repeats)):
            for audio, ref in items:
                seconds += len(audio) / SAMPLE_RATE
                n += 1
                heard = {}
                for side, tok in fronts.items():
                    u, c, w = _timed(tok, audio)
                    heard[side] = (u.text, u.understood) if u is not None else None
                    cpu[side] += c
                    wall[side] += w
                    if u is not None:
                        fin[side].append(u.finalize_ms)
                        right[side] += bool(ref) and u.understood and u.text == ref
                taken += fronts["on"].last_wrapper != ("", "")
                same += heard["on"] == heard["on_here"]
        med = {s: statistics.median(v) if v else float("nan") for s, v in fin.items()}
        rtf = {s: cpu[s] / max(seconds, 1e-9) for s in cpu}
        wtf = {s: wall[s] / max(seconds, 1e-9) for s in wall}
        result["sets"][name] = {
            "utterances": len(items),
            "finalize_ms_median_wrappers_on": round(med["on"], 1),
            "finalize_ms_median_wrappers_on_in_process": round(med["on_here"], 1),
            "finalize_ms_median_wrappers_off": round(med["off"], 1),
            "finalize_ratio_on_over_off": round(med["on"] / med["off"], 3) if med["off"] > 0 else None,
            "cpu_s_per_audio_s_wrappers_on": round(rtf["on"], 4),
            "cpu_s_per_audio_s_wrappers_on_in_process": round(rtf["on_here"], 4),
            "cpu_s_per_audio_s_wrappers_off": round(rtf["off"], 4),
            "cpu_ratio_on_over_off": round(rtf["on"] / rtf["off"], 3) if rtf["off"] > 0 else None,
            "wall_s_per_audio_s_wrappers_on": round(wtf["on"], 4),
            "wall_s_per_audio_s_wrappers_on_in_process": round(wtf["on_here"], 4),
            "wall_s_per_audio_s_wrappers_off": round(wtf["off"], 4),
            "wall_ratio_on_over_off": round(wtf["on"] / wtf["off"], 3) if wtf["off"] > 0 else None,
            "wall_ratio_on_in_process_over_off": round(wtf["on_here"] / wtf["off"], 3) if wtf["off"] > 0 else None,
            "same_text_child_and_in_process": round(same / max(1, n), 3),
            "wrapper_taken": round(taken / max(1, n), 3),
            **({"heard_exact_wrappers_on": round(right["on"] / n, 3),
                "heard_exact_wrappers_off": round(right["off"] / n, 3)} if any(r for _, r in items) else {}),
        }
    return emit(result, args)
