"""Dynamic int8 quantization of exported graphs (ONNX Runtime ``quantize_dynamic``).

Weights of MatMul / Gemm become int8 (per-channel for the transformer graphs), activations are
quantized on the fly. Convolutions are left in fp32: measured here, ConvInteger made MobileViT
3.6x slower, while int8 MatMuls are ~4x smaller and ~1.6x faster (../shared/notes/mission.md).
Embedding tables (Gather) are quantized too in the decoder (the 151936 x 896 Qwen2.5 table is
a quarter of its weights). ``reduce_range`` (7-bit weights) by default: on AVX2 CPUs without
VNNI (like ours) the u8 x s8 kernels saturate with 8-bit weights; measured here, full-range
int8 gave 33% relative error on the demo speech encoder, reduce_range 1.3%.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tristream_ros.errors import ModelFileError
from tristream_ros.runtime.manifest import (DECODER_FILE, SPEECH_FILE, VISION_FILE, ExportManifest,
                                            model_bytes)

# ops quantized per graph; never Conv (ConvInteger is slower than fp32 Conv on this CPU)
QUANT_OPS = {VISION_FILE: ("MatMul", "Gemm"), SPEECH_FILE: ("MatMul", "Gemm"),
             DECODER_FILE: ("MatMul", "Gemm", "Gather")}


def quantize_file(src, dst, op_types=("MatMul", "Gemm"), per_channel: bool = False,
                  reduce_range: bool = True) -> Path:
    """int8 dynamic quantization of one graph; weights of dst go to ``dst.onnx.data``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ModelFileError(f"ONNX file not found: {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    for stale in (dst, dst.with_name(dst.name + ".data")):
        stale.unlink(missing_ok=True)
    import logging
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" warning per call
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(op_types), per_channel=per_channel,
                         weight_type=QuantType.QInt8, use_external_data_format=True, reduce_range=reduce_range,
                         extra_options={"MatMulConstBOnly": True})
    except Exception as exc:
        raise ModelFileError(f"cannot quantize {src}: {type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        root.setLevel(level)
    return dst


def quantize_export(src_dir, dst_dir, progress: bool = True) -> ExportManifest:
    """Quantize every graph listed in ``src_dir/runtime.json`` into ``dst_dir`` (+ manifest)."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    manifest = ExportManifest.load(src_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = ExportManifest(**{**manifest.__dict__, "files": dict(manifest.files), "bytes": {}})
    out.int8 = True
    ops = set()
    for part, name in manifest.files.items():
        op_types = QUANT_OPS.get(name, ("MatMul", "Gemm"))
        quantize_file(src_dir / name, dst_dir / name, op_types, per_channel=name != VISION_FILE)
        ops.update(op_types)
        out.bytes[name] = model_bytes(dst_dir / name)
        if progress:
            print(f"int8 {part}: {dst_dir / name} ({manifest.bytes.get(name, 0) / 1e6:.1f} MB -> "
                  f"{out.bytes[name] / 1e6:.1f} MB, ops {', '.join(op_types)})", flush=True)
    out.quantized_ops = sorted(ops)
    out.save(dst_dir)
    return out


def copy_export(src_dir, dst_dir) -> None:
    """Copy an export folder (graphs, .data files, manifest)."""
    shutil.copytree(src_dir, dst_dir, dirs_exist_ok=True)


__all__ = ["quantize_file", "quantize_export", "QUANT_OPS"]
