"""`tristream export`: ONNX graphs (fp32, optionally int8) for the edge runtime.

    tristream export --config demo --checkpoint runs/demo/ckpt --out export/demo --int8
    tristream export --config omni-0.5b --out export/omni --random-weights   # cost measurement

Writes OUT/{vision_encoder,speech_encoder,decoder_step}.onnx (+ .onnx.data) and runtime.json;
with --int8 also OUT-int8/ (MatMul/Gemm weights int8, embedding tables fp16, convolutions fp32). The
speech encoder is exported when the checkpoint folder holds speech.safetensors (a
SpeechModel state dict for config.speech) or with --random-weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SPEECH_MODEL_FILE = "speech.safetensors"  # as training/phase2_alignment.py writes it beside the checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="demo", help="model preset (tiny | demo | omni-0.5b); with "
                        "--checkpoint, the checkpoint's config.json is used and must have this name")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("--random-weights", action="store_true",
                        help="no checkpoint: random weights of --config (benchmarks only)")
    parser.add_argument("--out", required=True, help="output folder for the fp32 graphs")
    parser.add_argument("--int8", action="store_true", help="also write dynamic-int8 graphs to OUT-int8")
    parser.add_argument("--parts", default="vision,speech,decoder", help="comma-separated subset to export")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                        help="torch ONNX exporter (default torchscript: seconds; dynamo: minutes)")


def build_models(config: str, checkpoint: str | None, random_weights: bool):
    """(TriStreamModel, SpeechModel | None) from a checkpoint or a preset with random weights."""
    import torch

    from tristream_ros.errors import InputError
    from tristream_ros.model.checkpoint import load_checkpoint, read_tensors, check_state
    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.model.speech.speech_model import SpeechModel
    from tristream_ros.model.tristream_model import TriStreamModel

    if checkpoint is None:
        if not random_weights:
            raise InputError("give --checkpoint DIR, or --random-weights to export an untrained preset")
        torch.manual_seed(0)
        cfg = TriStreamConfig.preset(config)
        return TriStreamModel(cfg).eval(), SpeechModel(cfg.speech).eval()
    model = load_checkpoint(checkpoint)
    if model.config.name != config:
        raise InputError(f"--config {config!r} but {Path(checkpoint) / 'config.json'} is preset "
                         f"{model.config.name!r}")
    speech = None
    path = Path(checkpoint) / SPEECH_MODEL_FILE
    if path.is_file():
        speech = SpeechModel(model.config.speech).eval()
        found = read_tensors(path)
        check_state(speech.state_dict(), found, str(path))
        speech.load_state_dict(found, strict=True)
    return model, speech


def run(args: argparse.Namespace) -> int:
    from tristream_ros.errors import InputError, ModelFileError

    try:
        import torch

        from tristream_ros.runtime.export_onnx import export_model
        from tristream_ros.runtime.quantize import quantize_export

        torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
        model, speech = build_models(args.config, args.checkpoint, args.random_weights)
        parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        if "speech" in parts and speech is None:
            print(f"tristream export: no {SPEECH_MODEL_FILE} in {args.checkpoint}; speech encoder not exported",
                  file=sys.stderr)
        out = Path(args.out)
        manifest = export_model(model, out, speech_model=speech, parts=parts, exporter=args.exporter)
        print(f"fp32: {out} ({sum(manifest.bytes.values()) / 1e6:.1f} MB)")
        if args.int8:
            q_out = out.with_name(out.name + "-int8")
            q = quantize_export(out, q_out)
            print(f"int8: {q_out} ({sum(q.bytes.values()) / 1e6:.1f} MB)")
        return 0
    except (InputError, ModelFileError) as exc:
        print(f"tristream export: {exc}", file=sys.stderr)
        return 2
