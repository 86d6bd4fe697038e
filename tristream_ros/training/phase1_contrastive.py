"""Phase 1: contrastive vision-text pre-training of STVE on rendered scenes.

STVE encodes every 64x64 tile independently (that is what makes its tile cache work), so
pre-training works on tiles sampled from the training scenes (newest frame): tiles showing
objects first, plus random background tiles. Each tile is paired with the description of
what it shows, from the generator's ground truth ("red ball", "blue cup and green cone",
or nothing). Losses:

    clip        InfoNCE between tile embeddings (tokens mean-pooled, projected) and
                description embeddings (a set encoder: per object colour + kind embeddings
                -> MLP -> sum -> projection); tiles with the same description are all
                positives (multi-positive targets)
    grounding   per-token colour and kind classification (background = class 0) from the
                renderer's boxes: dense supervision that makes each token say what it shows
    importance  BCE of the importance scorer against "this token overlaps an object", so the
                sparse budget keeps the salient tokens at inference

Sampling tiles instead of whole frames cuts the backbone cost per step ~4x (measured: a
16-frame batch takes ~4 s forward+backward on one loaded core). Only the STVE weights are
kept (RUN/phase1/stve.safetensors); the text encoder and heads are pre-training scaffolding.

Generalisation (measured with the phase-1 heads on the test split's 240 scenes, object tokens):
500 scenes and colour-only input gave colour 0.70 / kind 0.25 on unseen scenes (train scenes
0.97 / 0.83), and kind 0.06 on objects of a held-out colour/kind pair: the encoder had learnt
colour as a shortcut for kind. Two remedies on by default, two options off (`Phase1Options`;
measurements in docs/training.md):

    scene pool    the dataset's training scenes plus `extra_scenes` more, drawn from the same
                  scene sampler with the training colour/kind pairs only (no speech needed, so
                  they cost ~35 ms each to render); held-out pairs stay unseen
    kind debias   the kind head trains as a product of experts with a colour -> kind bias table
                  (training only): the table absorbs "no ball is ever blue here"
    unnamed pool  `unnamed_scenes` more scenes whose objects wear colours no query names
                  (data.scenes.UNNAMED_COLOURS: pink, brown, grey, teal, black), every kind in
                  every one of them: kind labels only (the tiles skip the colour and contrastive
                  losses), so a kind is seen in twice as many colours and colour stops predicting
                  it. No named colour is shown on a kind it is held out with.
    grayscale     (off) a share of tiles is shown as luminance only (SimCLR's random grayscale)
    hue rotation  (off) a share of tiles has its hue turned by a random angle (colour jitter, as
                  torchvision's ColorJitter hue): objects appear in hues beyond the training
                  pairs, so kind must come from shape. Both augmentations drop the tile's colour
                  labels and contrastive pairs (the colour names no longer hold); the held-out
                  pairs are still never shown or named with their colour
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from tristream_ros.data.scenes import COLOURS, KINDS, render_scene, spec_from_dict
from tristream_ros.model.config import TriStreamConfig
from tristream_ros.model.vision.colour_branch import to_luma
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder
from tristream_ros.training.cache import RunCache, parallel_map
from tristream_ros.training.loop import LoopConfig, TrainLoop, seed_everything

REGIONS = ("left", "centre", "right")
COLOUR_NAMES = tuple(COLOURS)
STVE_FILE = "stve.safetensors"


@dataclass(frozen=True)
class Phase1Options:
    """Sizes and augmentation of phase 1 (defaults: the shipped recipe)."""

    scenes: int = 1200  # dataset training scenes used (their newest frame)
    extra_scenes: int = 3600  # more training-pair scenes rendered for phase 1 only
    unnamed_scenes: int = 2400  # scenes with unnamed-colour objects (kind labels only)
    steps: int = 2000
    batch_size: int = 64  # tiles per step
    lr: float = 2e-3
    # colour augmentations, off in the recipe: measured (2000 steps, held-out tokens) hue 0.5 +
    # grayscale 0.2 raised kind on held-out pairs 0.14 -> 0.18 but cost kind on the others
    # 0.87 -> 0.67 and colour 0.86 -> 0.81 (docs/training.md)
    grayscale_rate: float = 0.0  # share of tiles shown as luminance only
    hue_rate: float = 0.0  # share of tiles with their hue rotated by a random angle
    kind_debias: bool = True  # train the kind head as a product of experts with a colour -> kind bias
    processes: int = 2  # worker processes rendering the extra scenes


def token_labels(objects: list[dict], grid_hw: tuple[int, int], image_size: int):
    """Ground-truth per token: (colour id, kind id, salient) arrays of shape (N,); 0 = background,
    colour -1 = an object in a colour no query names (data.scenes.UNNAMED_COLOURS).

    A token (an image cell) is labelled with the object covering most of it, if that object
    covers >= 15% of the cell or >= 50% of the object lies in the cell."""
    gh, gw = grid_hw
    ch, cw = image_size / gh, image_size / gw
    colour = np.zeros(gh * gw, np.int64)
    kind = np.zeros(gh * gw, np.int64)
    salient = np.zeros(gh * gw, np.float32)
    best = np.zeros(gh * gw, np.float32)
    for o in objects:
        x0, y0, x1, y1 = o["bbox"]
        area = max(1.0, (x1 - x0) * (y1 - y0))
        for r in range(gh):
            for c in range(gw):
                ix = max(0.0, min(x1, (c + 1) * cw) - max(x0, c * cw))
                iy = max(0.0, min(y1, (r + 1) * ch) - max(y0, r * ch))
                inter = ix * iy
                if inter <= 0:
                    continue
                t = r * gw + c
                salient[t] = 1.0
                if (inter >= 0.15 * cw * ch or inter >= 0.5 * area) and inter > best[t]:
                    best[t] = inter
                    colour[t] = 1 + COLOUR_NAMES.index(o["colour"]) if o["colour"] in COLOURS else -1
                    kind[t] = 1 + KINDS.index(o["kind"])
    return colour, kind, salient


class SceneTextEncoder(nn.Module):
    """Set encoder of a scene description: sum over objects of MLP(colour + kind + region)."""

    def __init__(self, dim: int):
        super().__init__()
        self.colour = nn.Embedding(len(COLOUR_NAMES), dim)
        self.kind = nn.Embedding(len(KINDS), dim)
        self.region = nn.Embedding(len(REGIONS), dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

        self.nothing = nn.Parameter(torch.zeros(dim))

    def forward(self, obj_ids: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """obj_ids (B, O, 2) long (colour, kind), obj_mask (B, O) -> (B, dim)."""
        e = self.colour(obj_ids[..., 0]) + self.kind(obj_ids[..., 1])
        return (self.mlp(e) * obj_mask.unsqueeze(-1).float()).sum(1) + self.nothing


class Phase1Heads(nn.Module):
    def __init__(self, token_dim: int, dim: int = 128):
        super().__init__()
        self.text = SceneTextEncoder(dim)
        self.img_proj = nn.Sequential(nn.Linear(token_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.txt_proj = nn.Linear(dim, dim)
        self.colour = nn.Linear(token_dim, 1 + len(COLOUR_NAMES))
        self.kind = nn.Linear(token_dim, 1 + len(KINDS))
        # colour -> kind bias, added to the kind logits in training only (product of experts):
        # it absorbs "this colour is never a ball" so the kind head need not learn it (row
        # 1 + C: colour unknown, for grayscale or hue-turned tiles)
        self.kind_bias = nn.Embedding(2 + len(COLOUR_NAMES), 1 + len(KINDS))
        nn.init.zeros_(self.kind_bias.weight)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))


def _extra_scene_job(args) -> list[tuple[np.ndarray, list[dict]]]:
    """Pool worker: newest frame + object dicts of extra phase-1 scenes `indices` (`unnamed`:
    of the unnamed-colour pool)."""
    from tristream_ros.data.dataset import extra_scene_spec, unnamed_colour_scene_spec

    seed, indices, image_size, unnamed = args
    spec_of = unnamed_colour_scene_spec if unnamed else extra_scene_spec
    out = []
    for i in indices:
        r = render_scene(spec_of(seed, i, image_size))
        out.append((r.frames[-1].copy(), [o.to_dict() for o in r.objects]))
    return out


def extra_scenes(seed: int, n: int, image_size: int, processes: int = 2, progress: bool = False,
                 unnamed: bool = False) -> list[tuple[np.ndarray, list[dict]]]:
    """n more scenes with training colour/kind pairs only (`unnamed`: unnamed colours only),
    deterministic from seed."""
    chunks = [list(range(a, min(n, a + 100))) for a in range(0, n, 100)]
    jobs = [(seed, c, image_size, unnamed) for c in chunks]
    desc = "phase-1 unnamed-colour scenes" if unnamed else "phase-1 scenes"
    return [x for part in parallel_map(_extra_scene_job, jobs, processes, progress, desc, "x100")
            for x in part]


def dataset_scenes(cache: RunCache, n: int, split: str = "train") -> list[tuple[np.ndarray, list[dict]]]:
    """Newest frame + object dicts of the first n scenes of a dataset split."""
    # .copy(): a view would keep all of the sequence's frames alive
    return [(render_scene(spec_from_dict(r["scene"])).frames[-1].copy(), r["objects"]) for r in cache.rows(split)[:n]]


def load_tiles(scenes: list[tuple[np.ndarray, list[dict]]], config) -> dict:
    """Cut each scene's frame (H, W, 3) uint8 into tiles with their per-token labels and
    descriptions (the set of (colour, kind) shown)."""
    from tristream_ros.model.vision.tiles import split_tiles

    nt, g = config.tiles_per_side, config.tokens_per_tile_side
    tiles, colours, kinds, sal, keys, unnamed = [], [], [], [], [], []
    for frame, objects in scenes:
        px = torch.from_numpy(frame).permute(2, 0, 1)[None]  # (1, 3, H, W) uint8 (no float copy: memory)
        t = split_tiles(px, config.tile_size)[0].clone()  # (n_tiles, 3, ts, ts), its own storage
        c, k, s = token_labels(objects, config.grid_hw, config.image_size)
        grid = lambda a: a.reshape(nt, g, nt, g).transpose(0, 2, 1, 3).reshape(nt * nt, g * g)  # noqa: E731
        c, k, s = grid(c), grid(k), grid(s)  # (n_tiles, g*g) in tile order
        tiles.append(t)
        colours.append(c)
        kinds.append(k)
        sal.append(s)
        unnamed.append((c < 0).any(1))  # (n_tiles,) shows an object of an unnamed colour
        for i in range(nt * nt):
            keys.append(sorted({(int(a) - 1, int(b) - 1) for a, b in zip(c[i], k[i]) if a > 0}))
    omax = max(1, max(len(x) for x in keys))
    ids = np.zeros((len(keys), omax, 2), np.int64)
    mask = np.zeros((len(keys), omax), bool)
    for i, x in enumerate(keys):
        if x:
            ids[i, : len(x)] = x
            mask[i, : len(x)] = True
    key_index = {}
    key_ids = np.array([key_index.setdefault(tuple(x), len(key_index)) for x in keys], np.int64)
    salient = np.concatenate(sal)
    return {"tiles": torch.cat(tiles),  # (n*16, 3, ts, ts) uint8
            "colour": torch.from_numpy(np.concatenate(colours)), "kind": torch.from_numpy(np.concatenate(kinds)),
            "salient": torch.from_numpy(salient), "obj_ids": torch.from_numpy(ids),
            "obj_mask": torch.from_numpy(mask), "key": torch.from_numpy(key_ids),
            "has_object": torch.from_numpy(salient.max(1) > 0),
            "unnamed": torch.from_numpy(np.concatenate(unnamed))}


def sample_batch(data: dict, batch_size: int, gen: torch.Generator, object_share: float = 0.75,
                 grayscale_rate: float = 0.0, hue_rate: float = 0.0) -> dict:
    """Tiles showing objects make up `object_share` of the batch, the rest are random tiles;
    each tile is shown as luminance only with probability `grayscale_rate` ("gray" mask), else
    hue-rotated with probability `hue_rate` ("hue" angle in radians, 0 = unchanged)."""
    obj = data["has_object"].nonzero().squeeze(1)
    n_obj = min(len(obj), int(round(batch_size * object_share)))
    pick = torch.cat([obj[torch.randint(0, len(obj), (n_obj,), generator=gen)],
                      torch.randint(0, len(data["tiles"]), (batch_size - n_obj,), generator=gen)])
    batch = {k: v[pick] for k, v in data.items()}
    batch["gray"] = torch.rand(batch_size, generator=gen) < grayscale_rate
    turn = (torch.rand(batch_size, generator=gen) < hue_rate) & ~batch["gray"]
    angle = torch.rand(batch_size, generator=gen) * (2 * np.pi)
    batch["hue"] = torch.where(turn, angle, torch.zeros(batch_size))
    return batch


# RGB <-> YIQ (NTSC): Y is luminance, (I, Q) the chroma plane a hue rotation turns
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_RGB = torch.linalg.inv(_YIQ)


def rotate_hue(tiles: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """(n, 3, t, t) RGB 0..255, angle (n,) radians -> hue turned by angle, luminance kept,
    clipped to 0..255."""
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(len(angle), 3, 3)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
    m = _RGB @ rot @ _YIQ  # (n, 3, 3): RGB -> YIQ -> rotate chroma -> RGB
    return torch.einsum("nij,njhw->nihw", m.to(tiles.dtype), tiles).clamp(0.0, 255.0)


def to_grayscale(tiles: torch.Tensor) -> torch.Tensor:
    """(n, 3, t, t) RGB -> the same shape with every channel set to the BT.601 luminance."""
    return to_luma(tiles)


def phase1_losses(stve: SparseTemporalVisionEncoder, heads: Phase1Heads, batch: dict, debias: bool = False) -> dict:
    """Losses of one batch; `debias` adds the colour -> kind bias table to the kind logits."""
    tiles = batch["tiles"].float()
    gray = batch.get("gray", torch.zeros(len(tiles), dtype=torch.bool))
    hue = batch.get("hue", torch.zeros(len(tiles)))
    turned = hue != 0
    unnamed = batch.get("unnamed", torch.zeros(len(tiles), dtype=torch.bool))
    if turned.any():
        tiles = torch.where(turned.view(-1, 1, 1, 1), rotate_hue(tiles, hue), tiles)
    if gray.any():
        tiles = torch.where(gray.view(-1, 1, 1, 1), to_grayscale(tiles), tiles)
    feats = stve.encode_tiles(tiles)  # (B, D, g, g)
    tok = feats.flatten(2).transpose(1, 2)  # (B, g*g, D) tile tokens, raster order within the tile
    col = ~(gray | turned | unnamed)  # the contrastive pairs and colour labels need a named, true colour
    if col.sum() >= 2:
        img = F.normalize(heads.img_proj(tok[col].mean(1)), dim=-1)
        txt = F.normalize(heads.txt_proj(heads.text(batch["obj_ids"][col], batch["obj_mask"][col])), dim=-1)
        logits = heads.logit_scale.exp().clamp(max=100.0) * img @ txt.T  # (b, b)
        key = batch["key"][col]
        same = (key[:, None] == key[None, :]).float()  # multi-positive targets
        clip = 0.5 * (F.cross_entropy(logits, same / same.sum(1, keepdim=True)) +
                      F.cross_entropy(logits.T, same / same.sum(0, keepdim=True).T))
    else:
        clip = tok.sum() * 0.0
    kind_logits = heads.kind(tok)  # (B, g*g, K+1)
    if debias:
        known = batch["colour"].masked_fill(~col.view(-1, 1), 1 + len(COLOUR_NAMES))  # (B, g*g)
        kind_logits = kind_logits + heads.kind_bias(known)
    ground = F.cross_entropy(kind_logits.flatten(0, 1), batch["kind"].flatten())
    if col.any():  # colour labels of the tiles still in colour
        ground = ground + F.cross_entropy(heads.colour(tok[col]).flatten(0, 1), batch["colour"][col].flatten())
    imp_logits = stve.scorer(tok)  # (B, g*g)
    imp = F.binary_cross_entropy_with_logits(imp_logits, batch["salient"])
    losses = {"clip": clip, "grounding": ground, "importance": imp}
    losses["total"] = clip + ground + imp
    with torch.no_grad():
        pred = imp_logits > 0
        sal = batch["salient"] > 0.5
        losses["importance_acc"] = (pred == sal).float().mean()  # logged, not optimised
    return losses


def run_phase1(config: TriStreamConfig, data_dir: str, out_dir: str, *, opts: Phase1Options = Phase1Options(),
               seed: int = 0, resume: bool = True, progress: bool = True) -> dict:
    seed_everything(seed)
    out = Path(out_dir) / "phase1"
    out.mkdir(parents=True, exist_ok=True)
    cache = RunCache(data_dir, Path(out_dir) / "cache")
    t0 = time.perf_counter()
    vc = config.vision
    scenes = dataset_scenes(cache, opts.scenes)
    if opts.extra_scenes > 0:
        scenes += extra_scenes(seed, opts.extra_scenes, vc.image_size, opts.processes, progress)
    if opts.unnamed_scenes > 0:
        scenes += extra_scenes(seed, opts.unnamed_scenes, vc.image_size, opts.processes, progress, unnamed=True)
    data = load_tiles(scenes, vc)
    n_scenes = len(scenes)
    del scenes
    t_data = time.perf_counter() - t0
    # NCHW convolutions: backward is ~1.4x faster than channels-last on this CPU (same weights)
    stve = SparseTemporalVisionEncoder(vc.replace(channels_last=False))
    heads = Phase1Heads(vc.token_dim)
    modules = {"stve": stve, "heads": heads}
    loop = TrainLoop(list(stve.parameters()) + list(heads.parameters()),
                     LoopConfig(steps=opts.steps, lr=opts.lr, warmup=min(30, opts.steps // 10), save_every=100),
                     out, "phase1", progress=progress)
    loop.start(modules, resume)
    stve.train()
    heads.train()
    for step in loop:
        gen = torch.Generator().manual_seed(seed * 100003 + step)  # batch depends on the step only: resumable
        loop.update(phase1_losses(stve, heads, sample_batch(data, opts.batch_size, gen,
                                                            grayscale_rate=opts.grayscale_rate,
                                                            hue_rate=opts.hue_rate),
                                  debias=opts.kind_debias))
    summary = loop.finish(modules)
    save_file({k: v.detach().contiguous() for k, v in stve.state_dict().items()}, str(out / STVE_FILE))
    summary.update(scenes=n_scenes, tiles=len(data["tiles"]), options=asdict(opts), data_seconds=round(t_data, 1),
                   seconds_total=round(time.perf_counter() - t0, 1))
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
