"""`tristream bench rejection`: what the out-of-domain rejection costs at the end of an utterance.

    tristream bench rejection --json [--model models/demo] [--repeats 3]

The shipped hybrid front end (its calibrated override, rescoring and rejection) transcribes each
utterance of three sets twice per repeat, with the rejection on and, as the in-run baseline, off
(the same front end with reject_* at -inf), alternating so both see the same machine load:
the packaged real recordings (tristream_ros/data/recordings: real people, mostly out of the
domain, so the CTC does not vouch and the phone loop runs), flite voices saying held-out
queries, and espeak-ng test voices saying the same queries. Reported per set: the median
`finalize_ms` (compute after the last audio chunk: CTC grammar scoring, alignments, and with
the rejection on the phone loop) on / off and their ratio, and the fraction of utterances the
rejection had to decode a phone loop for (the CTC did not vouch for the sentence).
"""
from __future__ import annotations

import argparse
import math
import statistics

from tristream_ros.bench.common import add_common_arguments, emit, machine, set_threads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--model", default=None, help="model folder (default models/demo)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over each set (default 3)")
    parser.add_argument("--queries", type=int, default=10, help="flite / espeak queries (default 10)")


def _sets(n: int) -> dict[str, list]:
    import numpy as np

    from tristream_ros.data.flite_synth import available_voices, flite_synthesize
    from tristream_ros.data.speech_synth import read_wav, sample_voice, synthesize
    from tristream_ros.training.evaluate_domain import read_manifest
    from tristream_ros.training.evaluate_tts import _pad, tts_queries

    queries = tts_queries(n, 3)
    flite = available_voices()
    out = {"real_recordings": [_pad(read_wav(it["path"])) for it in read_manifest()]}
    if flite:
        out["flite_queries"] = [_pad(flite_synthesize(q["query"], flite[i % len(flite)])) for i, q in enumerate(queries)]
    out["espeak_test_voices"] = [_pad(synthesize(q["query"], sample_voice(np.random.default_rng([3, 11, i]), "test")))
                                 for i, q in enumerate(queries)]
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tristream_ros.model.speech.ctc_grammar import REJECT_FIELDS
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    set_threads(args.threads)
    model_dir = Path(args.model) if args.model else Path(__file__).resolve().parents[2] / "models" / "demo"
    _, speech = load_shipped(model_dir)
    on = build_frontend(speech, "hybrid", model_dir)
    if not on.thresholds.rejects:
        print(f"tristream bench rejection: {model_dir}/ctc_grammar.json has no rejection thresholds "
              "(calibrate_grammar --write)")
        return 2
    off = build_frontend(speech, "hybrid", model_dir)
    off.thresholds = on.thresholds.without_rejection()
    result = {"benchmark": "rejection", "machine": machine(), "model": str(model_dir),
              "thresholds": {k: getattr(on.thresholds, k) for k in REJECT_FIELDS
                             if math.isfinite(getattr(on.thresholds, k))}, "sets": {}}
    for name, audios in _sets(args.queries).items():
        t_on, t_off, tested, rejected = [], [], 0, 0
        for _ in range(max(1, args.repeats)):
            for a in audios:
                u = on.transcribe(a)
                if u is None:
                    continue
                t_on.append(u.finalize_ms)
                rej = on.last_rejection or {}
                tested += rej.get("gap") is not None
                rejected += not u.understood
                u0 = off.transcribe(a)
                t_off.append(u0.finalize_ms if u0 is not None else float("nan"))
        med_on, med_off = statistics.median(t_on), statistics.median(t_off)
        result["sets"][name] = {"utterances": len(audios), "finalize_ms_median_rejection_on": round(med_on, 1),
                                "finalize_ms_median_rejection_off": round(med_off, 1),
                                "ratio_on_over_off": round(med_on / med_off, 3) if med_off > 0 else None,
                                "phone_loop_decoded": round(tested / max(1, len(t_on)), 3),
                                "not_understood": round(rejected / max(1, len(t_on)), 3)}
    return emit(result, args)
