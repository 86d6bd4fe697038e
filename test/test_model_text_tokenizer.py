import json

import pytest

from tristream_ros.errors import ModelFileError
from tristream_ros.model.text_tokenizer import (
    BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID, CharVocab, TextTokenizer, normalize)


def test_specials_and_roundtrip(tmp_path):
    tok = TextTokenizer.build(["Turn left!", "What's on the LEFT?", "go to the red ball."])
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID, SEP_ID) == (0, 1, 2, 3, 4)
    assert tok.words[:5] == ["<pad>", "<bos>", "<eos>", "<unk>", "<sep>"]
    ids = tok.encode("Go to the LEFT ball!", add_bos=True, add_eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert tok.decode(ids) == "go to the left ball"
    assert tok.encode("purple") == [UNK_ID]
    path = tmp_path / "vocab.json"
    tok.save(path)
    assert TextTokenizer.load(path).words == tok.words


def test_normalize():
    assert normalize("  What's ON the table?! 3 cups.") == "what's on the table 3 cups"
    assert normalize("") == ""


def test_bad_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        TextTokenizer.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "tristream-word-vocab-v1", "words": ["a", "b"]}))
    with pytest.raises(ModelFileError, match="specials"):
        TextTokenizer.load(bad)


def test_char_vocab():
    cv = CharVocab()
    assert len(cv) == 29 and cv.blank_id == 0
    ids = cv.encode("Don't stop!")
    assert cv.decode(ids) == "don't stop"
    assert cv.ctc_collapse([0, 5, 5, 0, 5, 1, 0]) == cv.decode([5, 5, 1])
