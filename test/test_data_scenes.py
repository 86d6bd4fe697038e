"""Scene renderer: determinism from a seed, and ground truth that matches the pixels."""
import dataclasses

import numpy as np
import pytest

from tristream_ros.data.scenes import (
    COLOURS, IMAGE_SIZE, NUM_FRAMES, REGIONS, render, render_scene, sample_scene, spec_from_dict, spec_to_dict,
)
from tristream_ros.errors import InputError


def test_same_seed_same_pixels_and_truth():
    a, b = render(11), render(11)
    assert a.frames.shape == (NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3) and a.frames.dtype == np.uint8
    np.testing.assert_array_equal(a.frames, b.frames)
    assert [o.to_dict() for o in a.objects] == [o.to_dict() for o in b.objects]
    assert not np.array_equal(a.frames, render(12).frames)


def test_frames_move_a_little():
    r = render(5)
    diff = np.abs(r.frames[0].astype(int) - r.frames[-1].astype(int)).mean()
    assert 1.0 < diff < 40.0  # noise and a small pan, not a different scene


def test_spec_round_trips_through_json_dict():
    spec = sample_scene(3)
    again = spec_from_dict(spec_to_dict(spec))
    assert again == spec
    np.testing.assert_array_equal(render_scene(again).frames, render_scene(spec).frames)


def _nearest_colour(rgb: np.ndarray) -> str:
    def unit(c):
        c = np.asarray(c, float)
        return c / (np.linalg.norm(c) + 1e-6)
    return min(COLOURS, key=lambda k: np.linalg.norm(unit(COLOURS[k]) - unit(rgb)))


@pytest.mark.parametrize("seed", range(12))
def test_truth_matches_pixels(seed):
    """Removing an object changes the pixels at its target (u, v), inside its bbox, in its colour."""
    spec = sample_scene(seed)
    scene = render_scene(spec)
    assert [o.centre_uv[0] for o in scene.objects] == sorted(o.centre_uv[0] for o in scene.objects)
    assert len({o.region for o in scene.objects}) == len(scene.objects)  # one object per region
    for obj_spec in spec.objects:
        truth = next(o for o in scene.objects if (o.kind, o.colour, o.size) == (obj_spec.kind, obj_spec.colour, obj_spec.size)
                     and abs(o.centre_uv[0] - obj_spec.u0) < 0.1)
        without = render_scene(dataclasses.replace(spec, objects=tuple(o for o in spec.objects if o is not obj_spec)))
        diff = np.abs(scene.frames[-1].astype(int) - without.frames[-1].astype(int)).sum(-1)  # (H, W)
        u, v = truth.centre_uv
        assert diff[int(v * IMAGE_SIZE), int(u * IMAGE_SIZE)] > 40, truth
        x0, y0, x1, y1 = truth.bbox
        assert 0 <= x0 < x1 <= IMAGE_SIZE and 0 <= y0 < y1 <= IMAGE_SIZE
        inside = diff[y0:y1, x0:x1] > 40
        assert inside.sum() > 0.3 * (diff > 40).sum()  # most of the change is in the bbox (rest: shadow)
        assert _nearest_colour(np.median(scene.frames[-1][diff > 40].astype(float), 0)) == truth.colour
        lo = REGIONS.index(truth.region) / 3
        assert lo <= u < lo + 1 / 3


def test_held_out_combinations_can_be_excluded_or_required():
    allowed = [("red", "ball"), ("blue", "box")]
    for seed in range(20):
        assert {(o.colour, o.kind) for o in sample_scene(seed, allowed_combos=allowed).objects} <= set(allowed)
        assert ("green", "cone") in {(o.colour, o.kind) for o in sample_scene(seed, required=[("green", "cone")]).objects}


def test_bad_arguments_name_the_value():
    with pytest.raises(InputError, match="num_objects=5"):
        sample_scene(0, num_objects=5)
