"""Deterministic renderer of robot-camera-like scenes, with per-object ground truth.

A scene is a textured wall above a textured floor, lit by a gradient, with one to three
objects (ball, box, cup, cone, bottle) standing on the floor, at most one in each third of the
image (left / centre / right), so that "what is on the left" always has one answer. A scene is
rendered as a short sequence of frames with a small camera pan and object drift (for temporal
pooling); the ground truth describes the *last* frame, the one the robot sees "now".

Everything follows from one integer seed: ``render_scene(sample_scene(seed))`` gives the same
pixels on every machine (numpy's PCG64 generator, no global state).

Coordinates: pixels ``(x, y)`` with ``x`` to the right and ``y`` down; normalized image
coordinates ``(u, v) = (x / W, y / H)`` in [0, 1], the convention of ``ActionHint.target_u/v``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError

IMAGE_SIZE = 256  # px, square frames = vision.image_size (a 4x4 grid of 64x64 tiles)
NUM_FRAMES = 4  # frames per sequence (temporal pooling window)

KINDS: tuple[str, ...] = ("ball", "box", "cup", "cone", "bottle")
COLOURS: dict[str, tuple[int, int, int]] = {  # base albedo, sRGB 0..255
    "red": (205, 30, 35),
    "green": (35, 165, 60),
    "blue": (35, 75, 210),
    "yellow": (235, 205, 35),
    "orange": (245, 125, 20),
    "purple": (135, 45, 170),
    "white": (238, 238, 232),
}
# Colours objects may take in training scenes that nobody names (phase 1 only: the kind head
# sees every kind in hues beyond the named palette, so kind has to come from shape; see
# training/phase1_contrastive.py). Chosen far from every named colour, so no held-out
# (colour, kind) pair is shown under another name.
UNNAMED_COLOURS: dict[str, tuple[int, int, int]] = {  # base albedo, sRGB 0..255
    "pink": (240, 120, 190),
    "brown": (125, 80, 45),
    "grey": (128, 128, 128),
    "teal": (20, 140, 140),
    "black": (32, 32, 32),
}
ALBEDO: dict[str, tuple[int, int, int]] = {**COLOURS, **UNNAMED_COLOURS}
SIZES: dict[str, float] = {"small": 0.75, "medium": 1.0, "large": 1.3}  # scale multipliers
REGIONS: tuple[str, ...] = ("left", "centre", "right")  # thirds of the image width
REGION_BOUNDS: dict[str, tuple[float, float]] = {"left": (0.0, 1 / 3), "centre": (1 / 3, 2 / 3), "right": (2 / 3, 1.0)}
REGION_MARGIN = 0.08  # object centres stay this far (in u) inside their third, motion included
MAX_DRIFT_PX = 3.0  # max per-frame camera pan or object drift, px

# width, height of each kind relative to the scale (px at the bottom of the image)
KIND_SHAPE: dict[str, tuple[float, float]] = {
    "ball": (1.0, 1.0),
    "box": (1.15, 0.95),
    "cup": (0.75, 0.8),
    "cone": (0.8, 1.15),
    "bottle": (0.42, 1.35),
}
BASE_SCALE_PX = 44.0  # medium object scale at the bottom edge of the image, px
# the white band every cone has (and `ObjectSpec.band` paints on other kinds): rows from / to, as
# fractions of the object's height from its top; its paint (RGB 0..1) and opacity
BAND_ROWS = (0.42, 0.58)
BAND_RGB = np.float32([0.92, 0.92, 0.9])
BAND_ALPHA = 0.85

WALL_STYLES = ("plain", "stripes", "bricks", "panels")
FLOOR_STYLES = ("planks", "tiles", "carpet", "concrete")


def region_of(u: float) -> str:
    """Third of the image that a normalized horizontal coordinate ``u`` falls in."""
    if u < 1 / 3:
        return "left"
    if u < 2 / 3:
        return "centre"
    return "right"


@dataclass(frozen=True)
class ObjectSpec:
    """One object to draw: what it is and where it stands in frame 0."""

    kind: str
    colour: str
    size: str
    u0: float  # horizontal centre in frame 0, normalized
    base_v: float  # where it touches the floor (bottom of the object), normalized
    drift_px: float  # own horizontal motion per frame, px (balls roll, others mostly stay)
    tint: tuple[float, float, float]  # per-object albedo jitter, multiplicative
    band: bool = False  # a white band across the middle, as every cone has (the two-tone pool of
    # training/colour_readout.py draws it on other kinds; cones have it whatever this says)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown object kind {self.kind!r}; expected one of {KINDS}")
        if self.colour not in ALBEDO:
            raise InputError(f"unknown colour {self.colour!r}; expected one of {tuple(ALBEDO)}")
        if self.size not in SIZES:
            raise InputError(f"unknown size {self.size!r}; expected one of {tuple(SIZES)}")


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render a scene; sampled from a seed by ``sample_scene``."""

    seed: int
    objects: tuple[ObjectSpec, ...]
    horizon: float  # wall/floor boundary, normalized v
    wall_style: str
    floor_style: str
    wall_rgb: tuple[int, int, int]
    floor_rgb: tuple[int, int, int]
    light_dir: float  # radians, direction of the brightness gradient
    light_strength: float  # gradient amplitude (0.1 = +-10 %)
    noise_sigma: float  # sensor noise std, in 0..255 units
    cam_dx: float  # camera pan per frame, px (scene moves by -cam_dx)
    cam_dy: float
    num_frames: int = NUM_FRAMES
    image_size: int = IMAGE_SIZE


@dataclass
class ObjectTruth:
    """Ground truth for one object in the last frame."""

    kind: str
    colour: str
    size: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in px (x1, y1 exclusive), last frame
    centre_uv: tuple[float, float]  # bbox centre, normalized (u right, v down)
    region: str  # left | centre | right, from centre_uv[0]
    bboxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # one per frame

    @property
    def name(self) -> str:
        """``"red ball"``."""
        return f"{self.colour} {self.kind}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bbox"] = list(self.bbox)
        d["centre_uv"] = [round(float(c), 4) for c in self.centre_uv]
        d["bboxes"] = [list(b) for b in self.bboxes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ObjectTruth":
        return cls(
            kind=d["kind"], colour=d["colour"], size=d["size"], bbox=tuple(d["bbox"]),
            centre_uv=tuple(d["centre_uv"]), region=d["region"],
            bboxes=[tuple(b) for b in d.get("bboxes", [])],
        )


@dataclass
class RenderedScene:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    objects: list[ObjectTruth]  # sorted left to right
    spec: SceneSpec


# ----------------------------------------------------------------------------- sampling


def sample_scene(
    seed: int,
    *,
    num_objects: int | None = None,
    allowed_combos: Iterable[tuple[str, str]] | None = None,
    required: Sequence[tuple[str, str]] = (),
    num_frames: int = NUM_FRAMES,
    image_size: int = IMAGE_SIZE,
) -> SceneSpec:
    """Sample a scene from ``seed``.

    allowed_combos: (colour, kind) pairs objects may take (None: all); used by the dataset to
        keep held-out colour/kind combinations out of the training split.
    required: (colour, kind) pairs that must appear (placed first, in random regions).
    """
    rng = np.random.default_rng(seed)
    allowed = sorted(set(allowed_combos)) if allowed_combos is not None else [(c, k) for c in COLOURS for k in KINDS]
    unknown = {c for c, _ in (*allowed, *required)} - set(ALBEDO)
    if unknown:
        raise InputError(f"unknown colours {sorted(unknown)}; expected some of {tuple(ALBEDO)}")
    if not allowed and not required:
        raise InputError("allowed_combos is empty: no object can be drawn")
    n = int(num_objects) if num_objects is not None else int(rng.integers(1, 4))
    n = max(n, len(required))
    if not 1 <= n <= len(REGIONS):
        raise InputError(f"num_objects={n}; a scene holds 1..{len(REGIONS)} objects (one per region)")
    regions = list(rng.permutation(len(REGIONS))[:n])
    combos = [tuple(c) for c in required]
    while len(combos) < n:
        combos.append(tuple(allowed[int(rng.integers(len(allowed)))]))
    horizon = float(rng.uniform(0.36, 0.5))
    objects = []
    cam_dx = float(rng.uniform(-1.0, 1.0)) * MAX_DRIFT_PX
    cam_dy = float(rng.uniform(-0.4, 0.4)) * MAX_DRIFT_PX
    for region_index, (colour, kind) in zip(regions, combos):
        lo, hi = REGION_BOUNDS[REGIONS[region_index]]
        drift = float(rng.uniform(-1, 1)) * (MAX_DRIFT_PX if kind == "ball" else 0.6)
        # keep the last-frame centre (after pan and drift) inside the region with margin
        shift_u = (num_frames - 1) * (drift - cam_dx) / image_size
        u_last = float(rng.uniform(lo + REGION_MARGIN, hi - REGION_MARGIN))
        objects.append(
            ObjectSpec(
                kind=kind,
                colour=colour,
                size=str(rng.choice(list(SIZES))),
                u0=u_last - shift_u,
                base_v=float(rng.uniform(horizon + 0.2, 0.95)),
                drift_px=drift,
                tint=_tint(rng, colour),
            )
        )
    wall = rng.uniform(90, 215, size=3) * rng.uniform(0.9, 1.0, size=3)
    floor = rng.uniform(60, 170, size=3) * np.array([1.0, 0.92, 0.8]) * rng.uniform(0.85, 1.0)
    return SceneSpec(
        seed=int(seed),
        objects=tuple(objects),
        horizon=horizon,
        wall_style=str(rng.choice(WALL_STYLES)),
        floor_style=str(rng.choice(FLOOR_STYLES)),
        wall_rgb=tuple(int(c) for c in _desaturate(wall, 0.55)),
        floor_rgb=tuple(int(c) for c in _desaturate(floor, 0.6)),
        light_dir=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.05, 0.25)),
        noise_sigma=float(rng.uniform(1.5, 6.0)),
        cam_dx=cam_dx,
        cam_dy=cam_dy,
        num_frames=num_frames,
        image_size=image_size,
    )


def _tint(rng: np.random.Generator, colour: str) -> tuple[float, float, float]:
    """Per-object albedo jitter: a brightness factor plus a small hue wobble (none for white)."""
    bright = float(rng.uniform(0.86, 1.06))
    hue = rng.uniform(0.95, 1.05, size=3) if colour != "white" else np.ones(3)
    return tuple(float(bright * h) for h in hue)


def _desaturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    grey = rgb.mean()
    return grey + (rgb - grey) * (1 - amount)


# ----------------------------------------------------------------------------- rendering


def render_scene(spec: SceneSpec) -> RenderedScene:
    """Draw ``spec`` as ``spec.num_frames`` frames; returns pixels and last-frame ground truth."""
    size = spec.image_size
    pad = int(np.ceil(max(abs(spec.cam_dx), abs(spec.cam_dy)) * spec.num_frames)) + 2  # room to pan
    rng = np.random.default_rng([spec.seed, 1])
    background = _background(spec, size + 2 * pad, rng)  # (S+2p, S+2p, 3) float32 0..1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    light = 1.0 + spec.light_strength * (
        (np.cos(spec.light_dir) * (xx / size - 0.5) + np.sin(spec.light_dir) * (yy / size - 0.5)) * 2.0
    )
    frames = np.empty((spec.num_frames, size, size, 3), dtype=np.uint8)
    light255 = (light * 255.0).astype(np.float32)[..., None]  # (H, W, 1)
    truths = [
        ObjectTruth(o.kind, o.colour, o.size, (0, 0, 0, 0), (0.0, 0.0), "", []) for o in spec.objects
    ]
    draw_order = sorted(range(len(spec.objects)), key=lambda i: spec.objects[i].base_v)  # far first
    for t in range(spec.num_frames):
        ox, oy = t * spec.cam_dx, t * spec.cam_dy
        x0 = int(round(pad + ox))
        y0 = int(round(pad + oy))
        img = background[y0 : y0 + size, x0 : x0 + size].copy()
        for i in draw_order:
            obj = spec.objects[i]
            cx = obj.u0 * size + t * obj.drift_px - ox
            base_y = obj.base_v * size - oy
            truths[i].bboxes.append(_draw_object(img, obj, cx, base_y, spec))
        gain = light255 * np.float32(1.0 + 0.03 * (rng.random() - 0.5))  # lighting, exposure flicker
        img *= gain
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(spec.noise_sigma) + np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        frames[t] = img.astype(np.uint8)
    for truth in truths:
        x_0, y_0, x_1, y_1 = truth.bboxes[-1]
        truth.bbox = (x_0, y_0, x_1, y_1)
        truth.centre_uv = ((x_0 + x_1) / 2 / size, (y_0 + y_1) / 2 / size)
        truth.region = region_of(truth.centre_uv[0])
    order = sorted(range(len(truths)), key=lambda i: truths[i].centre_uv[0])
    return RenderedScene(frames=frames, objects=[truths[i] for i in order], spec=spec)


def render(seed: int, **kwargs) -> RenderedScene:
    """``render_scene(sample_scene(seed, **kwargs))``."""
    return render_scene(sample_scene(seed, **kwargs))


def _noise_field(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth value noise in [-1, 1], (h, w) float32: random grid upsampled bilinearly."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _background(spec: SceneSpec, s: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    horizon_px = spec.horizon * spec.image_size + (s - spec.image_size) / 2
    wall = np.asarray(spec.wall_rgb, np.float32) / 255.0
    floor = np.asarray(spec.floor_rgb, np.float32) / 255.0
    # wall pattern: brightness modulation in [~0.8, ~1.1]
    n = _noise_field(rng, s, s, 24) * 0.04 + _noise_field(rng, s, s, 6) * 0.02
    if spec.wall_style == "stripes":
        period = rng.uniform(10, 28)
        n += 0.06 * (np.sin(2 * np.pi * xx / period) > 0)
    elif spec.wall_style == "bricks":
        bh, bw = rng.uniform(8, 14), rng.uniform(20, 34)
        row = np.floor(yy / bh)
        mortar = ((yy % bh) < 1.5) | (((xx + (row % 2) * bw / 2) % bw) < 1.5)
        n += np.where(mortar, 0.12, -0.02 * (row % 3))
    elif spec.wall_style == "panels":
        pw = rng.uniform(40, 80)
        n -= 0.1 * ((xx % pw) < 2.0)
    wall_img = wall[None, None, :] * (1.0 + n)[..., None]
    # floor pattern, perspective-ish: spacing grows towards the bottom
    depth = np.maximum(yy - horizon_px, 1.0)
    fx = (xx - s / 2) / depth * 40.0  # floor coordinates
    fz = 600.0 / depth
    m = _noise_field(rng, s, s, 10) * 0.05
    if spec.floor_style == "planks":
        m += 0.08 * ((np.floor(fx / 6.0) % 2) - 0.5) + 0.12 * ((fx % 6.0) < 0.25)
    elif spec.floor_style == "tiles":
        m += 0.07 * ((np.floor(fx / 8.0) + np.floor(fz / 4.0)) % 2) - 0.15 * (((fx % 8.0) < 0.3) | ((fz % 4.0) < 0.15))
    elif spec.floor_style == "carpet":
        m += rng.normal(0, 0.05, size=(s, s)).astype(np.float32)
    floor_img = floor[None, None, :] * (1.0 + m)[..., None]
    img = np.where((yy >= horizon_px)[..., None], floor_img, wall_img)
    # skirting board at the horizon
    board = (yy >= horizon_px - 4) & (yy < horizon_px)
    img[board] *= 0.6
    return np.clip(img, 0, 1).astype(np.float32)


def _convex_alpha(px: np.ndarray, py: np.ndarray, poly: Sequence[tuple[float, float]]) -> np.ndarray:
    """Anti-aliased coverage of a convex polygon (vertices clockwise in image coords)."""
    d = None
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        ex, ey = x2 - x1, y2 - y1
        length = max(np.hypot(ex, ey), 1e-6)
        # signed distance, positive on the inner side (right of the edge in y-down coords)
        di = ((px - x1) * ey - (py - y1) * ex) / length * -1.0
        d = di if d is None else np.minimum(d, di)
    return np.clip(d + 0.5, 0.0, 1.0)


def _disc_alpha(px, py, cx, cy, rx, ry) -> np.ndarray:
    r = np.hypot((px - cx) / rx, (py - cy) / ry)
    return np.clip((1.0 - r) * min(rx, ry) + 0.5, 0.0, 1.0)


def _band_rows(py: np.ndarray, top: float, h: float) -> np.ndarray:
    """1 on the pixel rows of the white band (BAND_ROWS of an object `h` px tall from `top`), else 0."""
    return ((py > top + h * BAND_ROWS[0]) & (py < top + h * BAND_ROWS[1])).astype(np.float32)


def _draw_object(img: np.ndarray, obj: ObjectSpec, cx: float, base_y: float, spec: SceneSpec) -> tuple[int, int, int, int]:
    """Composite ``obj`` onto ``img`` (H, W, 3 float 0..1) in place; return its amodal bbox."""
    size = spec.image_size
    horizon_px = spec.horizon * size
    depth = (base_y - horizon_px) / (size - horizon_px)  # 0 at horizon, 1 at bottom edge
    scale = BASE_SCALE_PX * SIZES[obj.size] * (0.45 + 0.55 * depth)
    rw, rh = KIND_SHAPE[obj.kind]
    w, h = rw * scale, rh * scale
    left, top = cx - w / 2, base_y - h
    # work inside a padded window around the object
    wx0 = max(int(np.floor(left - w * 0.5 - 4)), 0)
    wx1 = min(int(np.ceil(left + w * 1.5 + 4)), size)
    wy0 = max(int(np.floor(top - 4)), 0)
    wy1 = min(int(np.ceil(base_y + h * 0.15 + 4)), size)
    if wx1 <= wx0 or wy1 <= wy0:
        return (0, 0, 0, 0)
    py, px = np.mgrid[wy0:wy1, wx0:wx1].astype(np.float32) + 0.5
    albedo = np.asarray(ALBEDO[obj.colour], np.float32) / 255.0 * np.asarray(obj.tint, np.float32)
    albedo = np.clip(albedo, 0, 1)
    patch = img[wy0:wy1, wx0:wx1]
    # contact shadow
    shadow = _disc_alpha(px, py, cx, base_y, w * 0.62, max(h * 0.09, 2.0)) * 0.45
    patch *= (1.0 - shadow)[..., None]
    rel = np.clip((px - left) / max(w, 1e-3), 0, 1)  # 0..1 across the object
    cyl = 0.62 + 0.45 * np.sin(np.pi * (0.15 + 0.85 * rel))  # cylinder-like shading
    layers: list[tuple[np.ndarray, np.ndarray]] = []  # (alpha, rgb)
    k = obj.kind
    if k == "ball":
        r = w / 2
        ccy = base_y - r
        a = _disc_alpha(px, py, cx, ccy, r, r)
        dist = np.hypot(px - (cx - 0.35 * r), py - (ccy - 0.35 * r)) / r
        shade = np.clip(1.15 - 0.55 * dist, 0.35, 1.2)
        layers.append((a, albedo * shade[..., None]))
    elif k == "box":
        d = h * 0.25  # depth of the top face
        front = [(left, top + d), (left + w * 0.85, top + d), (left + w * 0.85, base_y), (left, base_y)]
        side = [(left + w * 0.85, top + d), (left + w, top), (left + w, base_y - d), (left + w * 0.85, base_y)]
        top_face = [(left, top + d), (left + w * 0.15, top), (left + w, top), (left + w * 0.85, top + d)]
        layers.append((_convex_alpha(px, py, front), np.broadcast_to(albedo * 0.95, px.shape + (3,))))
        layers.append((_convex_alpha(px, py, side), np.broadcast_to(albedo * 0.65, px.shape + (3,))))
        layers.append((_convex_alpha(px, py, top_face), np.broadcast_to(np.clip(albedo * 1.2 + 0.05, 0, 1), px.shape + (3,))))
        tape = (np.abs(px - (left + w * 0.42)) < max(w * 0.05, 0.8)) & (py > top + d)
        layers.append((tape.astype(np.float32) * _convex_alpha(px, py, front) * 0.35, np.broadcast_to(albedo * 0.5, px.shape + (3,))))
    elif k == "cup":
        body = [(left, top), (left + w, top), (left + w * 0.86, base_y), (left + w * 0.14, base_y)]
        rx, ry = w * 0.22, h * 0.26
        hx, hy = left + w * 0.9, top + h * 0.42
        rr = np.hypot((px - hx) / rx, (py - hy) / ry)
        handle = np.clip(np.minimum(1.0 - rr, rr - 0.6) * min(rx, ry) + 0.5, 0, 1) * (px > left + w * 0.8)
        layers.append((handle.astype(np.float32), albedo * 0.8 * np.ones(px.shape + (3,), np.float32)))
        layers.append((_convex_alpha(px, py, body), albedo * cyl[..., None]))
        rim = _disc_alpha(px, py, cx, top, w * 0.5, max(h * 0.09, 1.5))
        inner = _disc_alpha(px, py, cx, top + 0.5, w * 0.42, max(h * 0.06, 1.0))
        layers.append((rim, np.broadcast_to(np.clip(albedo * 1.15, 0, 1), px.shape + (3,))))
        layers.append((inner, np.broadcast_to(albedo * 0.35, px.shape + (3,))))
    elif k == "cone":
        tri = [(cx, top), (left + w, base_y - h * 0.08), (left, base_y - h * 0.08)]
        plate = [(left - w * 0.08, base_y - h * 0.1), (left + w * 1.08, base_y - h * 0.1), (left + w * 1.08, base_y), (left - w * 0.08, base_y)]
        layers.append((_convex_alpha(px, py, plate), np.broadcast_to(albedo * 0.6, px.shape + (3,))))
        cone_a = _convex_alpha(px, py, tri)
        layers.append((cone_a, albedo * cyl[..., None]))
        band = _band_rows(py, top, h) * cone_a
        layers.append((band * BAND_ALPHA, np.broadcast_to(BAND_RGB, px.shape + (3,))))
    elif k == "bottle":
        neck_w = w * 0.42
        body = [(left, top + h * 0.38), (left + w, top + h * 0.38), (left + w, base_y), (left, base_y)]
        shoulder = [(cx - neck_w / 2, top + h * 0.18), (cx + neck_w / 2, top + h * 0.18), (left + w, top + h * 0.4), (left, top + h * 0.4)]
        cap = [(cx - neck_w / 2, top), (cx + neck_w / 2, top), (cx + neck_w / 2, top + h * 0.2), (cx - neck_w / 2, top + h * 0.2)]
        layers.append((_convex_alpha(px, py, body), albedo * cyl[..., None]))
        layers.append((_convex_alpha(px, py, shoulder), albedo * cyl[..., None]))
        layers.append((_convex_alpha(px, py, cap), np.broadcast_to(np.float32([0.25, 0.25, 0.27]), px.shape + (3,))))
        label = ((py > top + h * 0.55) & (py < top + h * 0.75)).astype(np.float32) * _convex_alpha(px, py, body)
        layers.append((label * 0.7, np.broadcast_to(np.clip(albedo * 0.5 + 0.45, 0, 1), px.shape + (3,))))
    coverage = np.zeros(px.shape, np.float32)
    for alpha, rgb in layers:
        patch *= (1.0 - alpha)[..., None]
        patch += alpha[..., None] * rgb
        coverage = np.maximum(coverage, alpha)
    if obj.band and k != "cone":  # the cone's white band (same rows of the height, same paint) on the body
        band = _band_rows(py, top, h) * coverage * BAND_ALPHA
        patch *= (1.0 - band)[..., None]
        patch += band[..., None] * BAND_RGB
    ys, xs = np.nonzero(coverage >= 0.5)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return (int(xs.min() + wx0), int(ys.min() + wy0), int(xs.max() + wx0 + 1), int(ys.max() + wy0 + 1))


def object_counts(objects: Sequence[ObjectTruth]) -> dict[str, int]:
    """Number of objects of each kind (all kinds present as keys)."""
    counts = {k: 0 for k in KINDS}
    for o in objects:
        counts[o.kind] += 1
    return counts


def spec_to_dict(spec: SceneSpec) -> dict:
    """JSON-ready form of a SceneSpec (``spec_from_dict`` inverts it exactly)."""
    d = asdict(spec)
    d["objects"] = [{k: v for k, v in asdict(o).items() if k != "band" or v} for o in spec.objects]  # band only
    # when set: specs written before it existed read back the same
    return d


def spec_from_dict(d: dict) -> SceneSpec:
    objects = tuple(ObjectSpec(**{**o, "tint": tuple(o["tint"])}) for o in d["objects"])
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k != "objects"}
    return SceneSpec(objects=objects, **fields)
