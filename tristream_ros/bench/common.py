"""Shared helpers of the benchmarks: machine description, timing, peak RSS, memory bandwidth,
JSON output, and the ``python -m tristream_ros.bench.<name>`` entry point."""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from typing import Callable

from tristream_ros.model.flops import count_cpu_attention_flops  # noqa: F401  (re-exported for the benchmarks)

GB = 1e9  # bytes; sizes and RSS are reported in decimal GB
MB = 1e6


def machine() -> dict:
    """Where and when a benchmark ran (goes into every JSON result)."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB, 1)
    except (ValueError, OSError):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": mem_gb, "python": platform.python_version(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_avg_1min": round(os.getloadavg()[0], 2)}
    for mod in ("torch", "onnxruntime", "numpy"):
        m = sys.modules.get(mod)
        if m is not None:
            info[f"{mod}_version"] = getattr(m, "__version__", "?")
    return info


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object (figures named with units)")
    parser.add_argument("--threads", type=int, default=1, help="torch / onnxruntime intra-op threads (default 1)")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")


def set_threads(n: int) -> None:
    import torch
    torch.set_num_threads(max(1, int(n)))


def emit(result: dict, args) -> int:
    """Print the result (JSON with --json, else indented) and optionally write it to --out."""
    text = json.dumps(result, indent=None if getattr(args, "json", False) else 1)
    print(text, flush=True)
    if getattr(args, "out", None):
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=1) + "\n")
    return 0


def median_ms(fn: Callable[[], object], repeats: int = 10, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, from /proc/self/status VmHWM.

    Not ``getrusage().ru_maxrss``: Linux carries that over an exec from the forked parent, so a
    fresh subprocess of a big parent would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / GB  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


def current_rss_gb() -> float:
    try:
        with open("/proc/self/statm", encoding="utf-8") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / GB
    except OSError:
        return float("nan")


def memory_bandwidth_gbs(size_mb: int = 512, repeats: int = 5) -> dict:
    """Memory bandwidth from a large numpy copy (read + write counted): best of ``repeats``."""
    import numpy as np
    n = size_mb * 1_000_000 // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    moved = 2 * src.nbytes  # read src + write dst
    return {"copy_gbs": moved / best / GB, "copy_size_mb": size_mb, "method": "numpy.copyto, best of "
            f"{repeats}, bytes read + written"}


def main(module) -> int:
    """Entry point for ``python -m tristream_ros.bench.<name>``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module.__name__}",
                                     description=(module.__doc__ or "").split("\n")[0])
    module.add_arguments(parser)
    return int(module.run(parser.parse_args()) or 0)


def sig(x: float, digits: int = 4) -> float:
    """x rounded to ``digits`` significant digits (small presets keep their precision in JSON)."""
    return float(f"{x:.{digits}g}")

