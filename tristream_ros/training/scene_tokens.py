"""Scenes -> STVE tokens, the worker shared by the training steps that encode rendered scenes.

Phase 2 (`phase2_alignment.vision_tokens`: dataset splits and the scene-only pool) and the
read-out re-fits (`kind_readout.pool_tokens`: the scene pool, the unnamed-colour and over-bright
pools of the kind read-out, the two-tone pool of the colour read-out) all render scenes and run
the frozen STVE on them in worker processes (`cache.parallel_map`); this is that worker. No ROS.
"""
from __future__ import annotations

import numpy as np
import torch


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
