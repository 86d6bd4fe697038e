"""Dynamic int8 quantization of exported graphs (ONNX Runtime ``quantize_dynamic``).

Weights of MatMul / Gemm become int8 (per output channel for the transformer graphs),
activations are quantized on the fly. Convolutions are left in fp32: measured here,
ConvInteger made MobileViT 3.6x slower, while int8 MatMuls are ~4x smaller and ~1.6x faster
(../shared/notes/mission.md).

Embedding tables (Gather) are stored in float16 instead: quantize_dynamic quantizes a Gather
table per tensor, and a trained table with a few large rows (norm 10 against a median of 0.3 in
a demo checkpoint) then loses every ordinary row (prefill logits 5x off); fp16 keeps them and
still halves the table. With tied embeddings the LM head's MatMul gets its own int8 copy.

``reduce_range`` (7-bit weights) by default: on AVX2 CPUs without VNNI (like ours) the
u8 x s8 kernels saturate with 8-bit weights; measured here, full-range int8 gave 33% relative
error on the demo speech encoder, reduce_range 1.3%.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tristream_ros.errors import ModelFileError
from tristream_ros.runtime.manifest import (DECODER_FILE, SPEECH_FILE, VISION_FILE, ExportManifest,
                                            model_bytes)

# ops quantized per graph; never Conv (ConvInteger is slower than fp32 Conv on this CPU)
QUANT_OPS = {VISION_FILE: ("MatMul", "Gemm"), SPEECH_FILE: ("MatMul", "Gemm"), DECODER_FILE: ("MatMul", "Gemm")}
FP16_GATHER_MIN_ELEMENTS = 65536  # embedding tables at least this big are stored as float16


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
    fp16_gather_tables(dst)
    return dst


def fp16_gather_tables(path, min_elements: int = FP16_GATHER_MIN_ELEMENTS) -> int:
    """Store float32 initializers read only by Gather (embedding tables) as float16, with a Cast
    back to float32 after each Gather. Rewrites ``path`` (+ .data) in place; returns how many."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    path = Path(path)
    model = onnx.load(str(path), load_external_data=True)
    g = model.graph
    consumers: dict[str, list] = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {t.name: t for t in g.initializer}
    converted = 0
    new_nodes = []
    for node in g.node:
        new_nodes.append(node)
        table = inits.get(node.input[0]) if node.op_type == "Gather" and node.input else None
        if (table is None or table.data_type != onnx.TensorProto.FLOAT
                or int(np.prod(table.dims)) < min_elements
                or any(c.op_type != "Gather" for c in consumers[table.name])):
            continue
        half_name = table.name + "_fp16"
        if half_name not in inits:
            half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), half_name)
            g.initializer.append(half)
            inits[half_name] = half
        out = node.output[0]
        node.input[0] = half_name
        node.output[0] = out + "_fp16"
        new_nodes.append(helper.make_node("Cast", [out + "_fp16"], [out], to=onnx.TensorProto.FLOAT,
                                          name=(node.name or out) + "_cast_fp32"))
        converted += 1
    if not converted:
        return 0
    used = {i for n in new_nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used or t.name in {i.name for i in g.input}]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(new_nodes)
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name, size_threshold=1024)
    return converted


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


__all__ = ["quantize_file", "quantize_export", "fp16_gather_tables", "QUANT_OPS"]
