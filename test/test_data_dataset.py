"""Dataset: deterministic samples, held-out splits, writer/reader round trip."""
import dataclasses
import json

import numpy as np
import pytest

from tristream_ros.data import dataset as D
from tristream_ros.data import language as L
from tristream_ros.data import speech_synth as S
from tristream_ros.data.scenes import UNNAMED_COLOURS, sample_scene
from tristream_ros.errors import InputError

pytestmark = pytest.mark.skipif(S.shutil.which(S.ESPEAK) is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("espeak_cache")


@pytest.fixture(scope="module")
def written(tmp_path_factory, cache):
    root = tmp_path_factory.mktemp("synth")
    info = D.generate_dataset(root, {"train": 8, "val": 4, "test": 6}, D.GeneratorConfig(seed=3),
                              cache_dir=cache, processes=2, progress=False)
    return root, info


def test_same_seed_same_sample(cache):
    a = D.generate_sample("test", 4, D.GeneratorConfig(seed=1), cache)
    b = D.generate_sample("test", 4, D.GeneratorConfig(seed=1), cache)
    np.testing.assert_array_equal(a["frames"], b["frames"])
    assert (a["audio"] is None) == (b["audio"] is None)
    if a["audio"] is not None:
        np.testing.assert_array_equal(a["audio"], b["audio"])
    strip = lambda s: {k: v for k, v in s.items() if k not in ("frames", "audio")}  # noqa: E731
    assert strip(a) == strip(b)
    c = D.generate_sample("test", 5, D.GeneratorConfig(seed=1), cache)
    assert strip(a) != strip(c)


def test_reader_round_trip(written, cache):
    root, info = written
    assert info["counts"] == {"train": 8, "val": 4, "test": 6}
    assert json.loads((root / "info.json").read_text())["voices"]["test"]["variants"] == list(S.variants_for_split("test"))
    reader = D.DatasetReader(root, "test")
    assert len(reader) == 6
    for i, s in enumerate(reader):
        fresh = D.generate_sample("test", i, D.GeneratorConfig(seed=3), cache)
        np.testing.assert_array_equal(s["frames"], fresh["frames"])
        assert s["frames"].shape == (4, 256, 256, 3) and s["frames"].dtype == np.uint8
        for key in ("query", "context", "answer", "action", "route", "intent", "objects"):
            assert s[key] == fresh[key], key
        assert s["target_uv"] == fresh["target_uv"]
        if s["route"] == "vision":
            assert s["audio"] is None and not s["spoken"]
        else:
            assert s["audio"].dtype == np.float32 and s["sample_rate"] == 16000
            np.testing.assert_allclose(s["audio"], fresh["audio"], atol=1 / 32768 + 1e-7)
            assert 0 < s["speech_start_s"] < s["speech_end_s"] <= len(s["audio"]) / 16000


def test_render_mode_stores_no_frames_but_reads_the_same(tmp_path, cache):
    D.generate_dataset(tmp_path, {"train": 2}, D.GeneratorConfig(seed=3), cache_dir=cache, processes=1,
                       frames="render", progress=False)
    assert not (tmp_path / "train" / "frames").exists()
    s = D.DatasetReader(tmp_path, "train")[1]
    np.testing.assert_array_equal(s["frames"], D.generate_sample("train", 1, D.GeneratorConfig(seed=3), cache)["frames"])


def test_splits_hold_out_voices_phrasings_and_combos(written):
    root, _ = written
    rows = {s: D.DatasetReader(root, s, load_arrays=False).rows for s in D.SPLITS}
    voices = {s: {r["voice"]["variant"] for r in rows[s] if r["voice"]} for s in D.SPLITS}
    assert not (voices["train"] & voices["test"]) and not (voices["train"] & voices["val"])
    assert not (voices["val"] & voices["test"])
    for s in D.SPLITS:
        for r in rows[s]:
            phrasing = r["template_id"].split("/")[1]
            combos = {(o["colour"], o["kind"]) for o in r["objects"]}
            if s == "train":
                assert phrasing == "train" and not (combos & set(D.HELDOUT_COMBOS))
            else:
                assert phrasing == "heldout" and combos & set(D.HELDOUT_COMBOS)
    train_queries = {r["query"] for r in rows["train"]}
    assert not any(r["query"] in train_queries for r in rows["test"] if r["intent"] not in ("describe",))


def test_split_rules_over_many_draws():
    """The generator's building blocks keep held-out items out of train (cheap, no audio)."""
    heldout_queries = set(L.all_queries("heldout"))
    for i in range(200):
        rng = D.sample_rng(0, "train", i)
        spec = sample_scene(int(rng.integers(2**31)), allowed_combos=D.TRAIN_COMBOS)
        assert not ({(o.colour, o.kind) for o in spec.objects} & set(D.HELDOUT_COMBOS))
        assert S.sample_voice(rng, "train").variant in S.variants_for_split("train")
    assert heldout_queries


def test_bad_split_and_missing_folder(tmp_path):
    with pytest.raises(InputError, match="'dev'"):
        D.sample_rng(0, "dev", 0)
    with pytest.raises(InputError, match="tristream generate dataset"):
        D.DatasetReader(tmp_path, "train")


def test_generate_command(tmp_path, cache, capsys):
    from tristream_ros.cli import main

    rc = main(["generate", "dataset", "--out", str(tmp_path / "d"), "--train", "2", "--test", "1", "--val", "0",
               "--seed", "4", "--processes", "1", "--no-progress", "--cache", str(cache)])
    assert rc == 0
    assert "wrote 3 samples" in capsys.readouterr().out
    assert len(D.DatasetReader(tmp_path / "d", "train")) == 2 and len(D.DatasetReader(tmp_path / "d", "test")) == 1
    assert main(["generate", "dataset", "--out", str(tmp_path / "e"), "--train", "-1", "--no-progress"]) == 2


def test_bright_pool_lifts_the_palette_but_never_shows_a_held_out_pair():
    from tristream_ros.data.scenes import render_scene
    a = [D.bright_scene_spec(0, i) for i in range(40)]
    assert a == [D.bright_scene_spec(0, i) for i in range(40)]  # deterministic from (seed, index)
    pairs = {(o.colour, o.kind) for s in a for o in s.objects}
    assert not pairs & set(D.HELDOUT_COMBOS) and pairs <= set(D.TRAIN_COMBOS) | set(D.UNNAMED_COMBOS)
    assert any(c in UNNAMED_COLOURS for c, _ in pairs) and any(c == "yellow" for c, _ in pairs)
    # the gain is the pool's own: a tint of the usual range (0.86..1.06) times 1.1..1.6
    tints = np.array([t for s in a for o in s.objects for t in o.tint])
    assert tints.min() >= 0.86 * 0.95 * D.BRIGHT_GAIN[0] and tints.max() <= 1.06 * 1.05 * D.BRIGHT_GAIN[1]
    assert tints.mean() > 1.2
    # what it is for: a yellow ball as bright in luminance as the palette's white one
    def ball_luma(colour, gain):
        spec = sample_scene(7, num_objects=1, allowed_combos=[(colour, "ball")])
        o = spec.objects[0]
        spec = dataclasses.replace(spec, objects=(dataclasses.replace(o, tint=tuple(t * gain / np.mean(o.tint) for t in o.tint)),))
        rendered = render_scene(spec)
        f = rendered.frames[-1].astype(np.float32)
        x0, y0, x1, y1 = rendered.objects[0].bbox
        patch = f[y0 + (y1 - y0) // 3: y1 - (y1 - y0) // 3, x0 + (x1 - x0) // 3: x1 - (x1 - x0) // 3]
        return float((patch @ np.float32([0.299, 0.587, 0.114])).mean())
    assert ball_luma("yellow", 1.0) < 0.9 * ball_luma("white", 1.0) < ball_luma("yellow", 1.5)
    with pytest.raises(InputError, match="gain"):
        D.bright_scene_spec(0, 0, gain=(1.5, 1.1))


def test_banded_pool_paints_the_cone_band_on_other_kinds_without_held_out_pairs():
    from tristream_ros.data.scenes import render_scene, spec_from_dict, spec_to_dict
    a = [D.banded_scene_spec(0, i) for i in range(40)]
    assert a == [D.banded_scene_spec(0, i) for i in range(40)]  # deterministic from (seed, index)
    pairs = {(o.colour, o.kind) for s in a for o in s.objects}
    assert pairs <= set(D.TRAIN_COMBOS) and not any(k == "cone" for _, k in pairs)
    assert any(c == "green" for c, _ in pairs)  # the colour the cone's band hid
    assert all(o.band for s in a for o in s.objects)
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(a[0])))) == a[0]  # the band survives JSON
    # specs without a band serialize as before the field existed (written datasets read back the same)
    plain = sample_scene(3)
    assert all("band" not in o for o in spec_to_dict(plain)["objects"])

    # the band is drawn: the middle rows of a green ball turn near-white, the rest stays green
    spec = sample_scene(7, num_objects=1, allowed_combos=[("green", "ball")])
    def rows(banded):
        s = dataclasses.replace(spec, objects=(dataclasses.replace(spec.objects[0], band=banded),))
        r = render_scene(s)
        x0, y0, x1, y1 = r.objects[0].bbox
        f = r.frames[-1].astype(np.float32)[:, x0 + (x1 - x0) // 3: x1 - (x1 - x0) // 3]
        h = y1 - y0
        return f[y0 + int(h * 0.45): y0 + int(h * 0.55)].mean((0, 1)), f[y0 + int(h * 0.7): y0 + int(h * 0.8)].mean((0, 1))
    (mid0, low0), (mid1, low1) = rows(False), rows(True)
    assert mid0[1] > mid0[0] + 40 and mid1.min() > 150 and abs(mid1[0] - mid1[1]) < 30  # green -> white band
    assert np.allclose(low0, low1, atol=4)  # below the band: the same green
