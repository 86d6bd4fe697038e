"""Scenes -> STVE tokens, the worker shared by the training steps that encode rendered scenes.

Phase 2 (`phase2_alignment.vision_tokens`: dataset splits and the scene-only pool) and the
read-out re-fits (`pool_tokens` below: the scene pool, the unnamed-colour and over-bright
pools of the kind read-out, the two-tone pool of the colour read-out) all render scenes and run
the frozen STVE on them in worker processes (`cache.parallel_map`): `encode_scenes_job` is that
worker, `pool_tokens` the read-out steps' call of it on a training pool. No ROS.
"""
from __future__ import annotations

import numpy as np
import torch

from tristream_ros.errors import InputError


def encode_scenes_job(args: tuple) -> list[tuple]:
    """Pool worker: STVE tokens for a slice of scenes.

    args: (STVE state dict, VisionConfig, pool seed, [(id, scene)]), a scene being a dataset /
    spec dict or an int index into the scene-only pool (`data.dataset.extra_scene_spec`).
    Returns [(id, dense features (N, D) f16, importance (N,) f16, sparse-budget mask (N,) bool,
    rendered objects as dicts)] in input order."""
    stve_state, vcfg, seed, scenes = args
    torch.set_num_threads(1)
    from tristream_ros.data.dataset import extra_scene_spec
    from tristream_ros.data.scenes import render_scene, spec_from_dict
    from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder
    stve = SparseTemporalVisionEncoder(vcfg)
    stve.load_state_dict(stve_state)
    stve.eval()
    out = []
    for sid, scene in scenes:
        spec = extra_scene_spec(seed, scene, vcfg.image_size) if isinstance(scene, int) else spec_from_dict(scene)
        rendered = render_scene(spec)
        frames = rendered.frames
        stve.reset()
        sparse = stve.encode(frames)
        dense = stve.last_dense()
        mask = np.zeros(dense.features.shape[0], bool)
        mask[sparse.flat_index.numpy()] = True
        out.append((sid, dense.features.numpy().astype(np.float16),
                    dense.importance.numpy().astype(np.float16), mask, [o.to_dict() for o in rendered.objects]))
    return out


def pool_tokens(model, pool: str, n: int, seed: int = 0, processes: int = 2,
                progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Dense STVE tokens (n, N, Dv) f16, sparse-budget masks (n, N) and scene rows ({"objects"})
    of the first n scenes of a scene pool: "extra" (training pairs), "unnamed" (unnamed colours),
    "bright" (over-bright training pairs and unnamed colours) or "banded" (training pairs of
    every kind but the cone with a cone's white band, `data.dataset.banded_scene_spec`), encoded by
    `encode_scenes_job` in `processes` workers."""
    from tristream_ros.data.dataset import banded_scene_spec, bright_scene_spec, unnamed_colour_scene_spec
    from tristream_ros.data.scenes import spec_to_dict
    from tristream_ros.training.cache import parallel_map
    specs = {"unnamed": unnamed_colour_scene_spec, "bright": bright_scene_spec, "banded": banded_scene_spec}
    if pool != "extra" and pool not in specs:
        raise InputError(f"pool_tokens: pool {pool!r}; expected 'extra', 'unnamed', 'bright' or 'banded'")
    vcfg = model.config.vision
    scenes = [(f"{pool}-{i:06d}", i) for i in range(n)] if pool == "extra" else \
        [(f"{pool}-{i:06d}", spec_to_dict(specs[pool](seed, i, vcfg.image_size))) for i in range(n)]
    state = {k: v.detach().clone() for k, v in model.vision.state_dict().items()}
    jobs = [(state, vcfg, seed, scenes[a:a + 50]) for a in range(0, n, 50)]
    res = [r for part in parallel_map(encode_scenes_job, jobs, processes, progress, f"STVE tokens {pool}", "x50")
           for r in part]  # (id, features, importance, mask, objects) per scene
    return (np.stack([r[1] for r in res]), np.stack([r[3] for r in res]), [{"objects": r[4]} for r in res])
