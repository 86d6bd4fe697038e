"""The recogniser's recombined text (data/recombined_text.py) and its spoken pool
(data.dataset.recombined_pool_sample, training.speech_pool kind "recombined")."""
import numpy as np
import pytest

from tristream_ros.errors import InputError


def _bigrams(sentence: str) -> set[tuple[str, str]]:
    w = sentence.split()
    return set(zip(w, w[1:]))


def test_recombined_text_is_training_words_in_new_orders_never_a_query():
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.recombined_text import MAX_WORDS, MIN_WORDS, recombined_sentence
    train, heldout = set(all_queries("train")), set(all_queries("heldout"))
    train_words = {w for s in train for w in s.split()}
    rng = np.random.default_rng(3)
    drawn = [recombined_sentence(rng) for _ in range(2000)]
    again = np.random.default_rng(3)
    assert [recombined_sentence(again) for _ in range(50)] == drawn[:50]  # deterministic from the generator
    from tristream_ros.data.dataset import HELDOUT_COMBOS
    for s in drawn:
        words = s.split()
        assert MIN_WORDS <= len(words) <= MAX_WORDS
        assert set(words) <= train_words  # only words the training phrasings use
        assert s not in heldout and s not in train  # never a held-out query, never one already spoken
        assert not any((a, b) in HELDOUT_COMBOS for a, b in zip(words, words[1:])), s  # no held-out pair named
        assert not any(f" {q} " in f" {s} " for q in heldout), s  # no held-out query inside it
    assert len(set(drawn)) > 1500  # varied
    # word pairs the training phrasings never have: new orders, the point of the pool
    train_pairs = set().union(*(_bigrams(s) for s in train))
    new_pairs = set().union(*(_bigrams(s) for s in drawn)) - train_pairs
    assert len(new_pairs) > 300
    # the short commands are drawn too, not only the many filled scene questions
    assert sum("back" in s.split() for s in drawn) > 50 and sum("stop" in s.split() for s in drawn) > 50


def test_recombined_pool_speaks_with_training_voices_and_is_cached(tmp_path):
    from tristream_ros.data.dataset import recombined_pool_sample
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.speech_synth import variants_for_split
    from tristream_ros.training.speech_pool import speech_pool
    s = recombined_pool_sample(2, 5)
    assert s["id"] == "recombined-000005" and s["query"] not in set(all_queries("heldout"))
    assert s["audio"].dtype == np.float32 and s["audio"].ndim == 1 and np.abs(s["audio"]).max() > 0.01
    assert 0 <= s["speech_start_s"] < s["speech_end_s"] <= len(s["audio"]) / 16000 + 1e-6
    assert s["voice"]["variant"] in set(variants_for_split("train"))
    assert recombined_pool_sample(2, 5)["query"] == s["query"]  # per index, deterministic
    mel, text = speech_pool(2, 4, 80, tmp_path, processes=1, progress=False, kind="recombined")
    assert sorted(mel) == sorted(text) == [f"recombined-{i:06d}" for i in range(4)]
    assert text["recombined-000001"] == recombined_pool_sample(2, 1)["query"]
    assert all(m.ndim == 2 and m.shape[1] == 80 for m in mel.values())
    assert (tmp_path / "recombined_pool_s2_n4.npz").is_file() and not list(tmp_path.glob("speech_pool_*"))
    with pytest.raises(InputError, match="kind"):
        speech_pool(2, 4, 80, tmp_path, processes=1, progress=False, kind="other")


def test_the_refusals_catch_what_they_are_for():
    from tristream_ros.data.recombined_text import contains_heldout_query, names_heldout_pair
    assert names_heldout_pair("show me to the purple bottle") and names_heldout_pair("please white ball")
    assert not names_heldout_pair("go to the purple cup") and not names_heldout_pair("white and ball")
    assert contains_heldout_query("halt now go back") and contains_heldout_query("turn left now")
    assert not contains_heldout_query("halt go back") and not contains_heldout_query("turn left nowhere")


def test_pool_kinds_share_a_folder_and_extend_their_own_cache(tmp_path):
    from tristream_ros.data.dataset import recombined_pool_sample
    from tristream_ros.training.speech_pool import speech_pool
    rec, rec_text = speech_pool(1, 3, 80, tmp_path, processes=1, progress=False, kind="recombined")
    spk, spk_text = speech_pool(1, 3, 80, tmp_path, processes=1, progress=False)  # same seed and size, other kind
    assert not set(rec) & set(spk) and (tmp_path / "speech_pool_s1_n3.npz").is_file()
    again, again_text = speech_pool(1, 3, 80, tmp_path, processes=1, progress=False, kind="recombined")
    assert again_text == rec_text and all(np.array_equal(again[k], rec[k]) for k in rec)  # read back
    more, more_text = speech_pool(1, 5, 80, tmp_path, processes=1, progress=False, kind="recombined")
    assert sorted(more) == [f"recombined-{i:06d}" for i in range(5)]  # extended from its own cache
    assert all(np.array_equal(more[k], rec[k]) for k in rec)
    assert more_text["recombined-000004"] == recombined_pool_sample(1, 4)["query"]


def test_recogniser_option_is_checked():
    from tristream_ros.training.recognizer import RecognizerOptions
    with pytest.raises(InputError, match="recombined_pool"):
        RecognizerOptions(recombined_pool=-1)


def test_a_cached_recombined_pool_drawn_before_the_refusals_is_an_error_not_reused(tmp_path):
    """The cache is keyed by seed and size: a pool drawn before session 18's refusals would be
    read back silently. Its transcripts are checked on load: a leaky one is an InputError naming
    the file, and nothing is deleted."""
    import json

    from tristream_ros.training.speech_pool import speech_pool
    speech_pool(3, 2, 80, tmp_path, processes=1, progress=False, kind="recombined")
    tfile = tmp_path / "recombined_pool_s3_n2.json"
    text = json.loads(tfile.read_text())
    text["recombined-000000"] = "do you have a look at the purple bottle"  # a held-out pair
    tfile.write_text(json.dumps(text))
    with pytest.raises(InputError, match="recombined_pool_s3_n2.json"):
        speech_pool(3, 2, 80, tmp_path, processes=1, progress=False, kind="recombined")
    with pytest.raises(InputError, match="held-out"):  # also when it is the smaller cache being extended
        speech_pool(3, 3, 80, tmp_path, processes=1, progress=False, kind="recombined")
    assert tfile.is_file() and (tmp_path / "recombined_pool_s3_n2.npz").is_file()
