"""`tristream bench speech`: streaming speech-encoder cost for 1 s, 3 s and 10 s utterances
versus a Whisper-style encoder of the same width that pads every utterance to 30 s.

    tristream bench speech --preset omni-0.5b --repeats 1 --json

Streaming: the project's SpeechEncoder through ``EncoderStream`` (chunks of chunk_frames
encoder frames, bounded left context): cost follows the audio actually heard.
Baseline: the same layers and weights with one 30 s chunk (1500 encoder frames, full
attention) on 3000 mel frames of padded audio, as Whisper / LLaMA-Omni2 run it; its cost is the
same for every utterance length. FLOPs are counted by torch.utils.flop_counter on one run of
each (with the CPU attention kernel registered, see common.count_cpu_attention_flops; the
analytic streaming_encoder.estimate_macs x 2 is printed beside it); ms are the median of
--repeats further runs (eager PyTorch, --threads). Random weights and
random log-mel input (cost does not depend on the values).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

from tristream_ros.bench.common import add_common_arguments, count_cpu_attention_flops, emit, machine, set_threads, sig

DURATIONS_S = (1.0, 3.0, 10.0)
WHISPER_WINDOW_S = 30.0
MEL_FRAMES_PER_S = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--preset", default="demo", help="speech preset (tiny | demo | omni-0.5b; default demo)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (default 3)")
    parser.add_argument("--durations", default=",".join(str(d) for d in DURATIONS_S), help="utterance seconds")


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from tqdm import tqdm

    from tristream_ros.model.speech.config import SpeechConfig
    from tristream_ros.model.speech.streaming_encoder import SpeechEncoder, estimate_macs

    set_threads(args.threads)
    count_cpu_attention_flops()
    torch.manual_seed(0)
    cfg = SpeechConfig.preset(args.preset)
    enc = SpeechEncoder(cfg).eval()
    window = int(WHISPER_WINDOW_S * MEL_FRAMES_PER_S // 2)  # 1500 encoder frames
    base_cfg = dataclasses.replace(cfg, chunk_frames=window, left_context_frames=0)
    base = SpeechEncoder(base_cfg).eval()
    base.load_state_dict(enc.state_dict())
    durations = [float(d) for d in args.durations.split(",") if d.strip()]

    def streaming(mel):
        st = enc.stream()
        st.accept_mel(mel)
        return st.finish()

    def padded(mel):
        x = torch.full((int(WHISPER_WINDOW_S * MEL_FRAMES_PER_S), cfg.n_mels), -1.0)
        x[: mel.shape[0]] = mel[: x.shape[0]]
        return base(x[None])

    def measure(fn, mel):
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            fn(mel)
        times = []
        with torch.inference_mode():
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                fn(mel)
                times.append(time.perf_counter() - t0)
        return counter.get_total_flops() / 1e9, 1000 * statistics.median(times)

    g = torch.Generator().manual_seed(0)
    rows = {}
    base_gflops = base_ms = None
    for d in tqdm(durations, desc="speech durations", file=sys.stderr, disable=args.json):
        mel = torch.randn(int(d * MEL_FRAMES_PER_S), cfg.n_mels, generator=g)
        s_gflops, s_ms = measure(streaming, mel)
        if base_gflops is None:  # the padded baseline costs the same for every length <= 30 s
            base_gflops, base_ms = measure(padded, mel)
        rows[f"{d:g}s"] = {"seconds": d, "streaming_gflops": sig(s_gflops), "streaming_ms": round(s_ms, 1),
                           "real_time_factor": round(s_ms / 1000 / d, 3),
                           "analytic_gflops": sig(2 * estimate_macs(cfg, d) / 1e9),
                           "flops_ratio_vs_padded": round(s_gflops / base_gflops, 4),
                           "flops_reduction": round(1 - s_gflops / base_gflops, 4),
                           "ms_ratio_vs_padded": round(s_ms / base_ms, 4)}
    gf = [rows[k]["streaming_gflops"] for k in rows]
    result = {"benchmark": "speech", "preset": args.preset, "weights": "random (seed 0)", "threads": args.threads,
              "machine": machine(), "repeats": args.repeats,
              "encoder": {"d_model": cfg.d_model, "n_layers": cfg.n_layers, "n_mels": cfg.n_mels,
                          "chunk_ms": cfg.chunk_ms, "left_context_ms": cfg.left_context_ms},
              "padded_30s_baseline": {"gflops": sig(base_gflops), "ms": round(base_ms, 1),
                                      "analytic_gflops": sig(2 * estimate_macs(cfg, 1.0,
                                                                               window_s=WHISPER_WINDOW_S) / 1e9),
                                      "encoder_frames": window, "attention": "full over the 30 s window"},
              "utterances": rows,
              "cost_grows_with_length": all(a < b for a, b in zip(gf, gf[1:]))}
    return emit(result, args)


if __name__ == "__main__":
    from tristream_ros.bench.common import main
    sys.exit(main(sys.modules[__name__]))
