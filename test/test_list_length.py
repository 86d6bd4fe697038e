"""End-of-list control (model/heads/list_length.py): an "i see ..." answer gets as many items
as objects are counted, "and" before the last; region questions and other answers are left
alone; the count is asked for once, only when a list needs it."""
import torch

from tristream_ros.model.heads.list_length import ListLength

VOCAB = ["<pad>", "<eos>", "i", "see", "a", "an", "and", "red", "blue", "ball", "cup", "balls", "left", "is",
         "the", "there"]
ID = {w: i for i, w in enumerate(VOCAB)}


def _guide(n, said=("describe",), calls=None):
    def n_objects():
        if calls is not None:
            calls.append(1)
        return n
    return ListLength(lambda w: ID.get(w, 0), [ID["ball"], ID["cup"], ID["balls"]], [ID["left"]], [ID["a"], ID["an"]],
                      ID["<eos>"], [ID.get(w, 0) for w in said], n_objects)


def _ids(text):
    return [ID[w] for w in text.split()]


def test_items_follow_the_count():
    g = _guide(3)
    assert g.allowed(_ids("i see a red ball")) == [ID["a"], ID["an"]]  # two more to come
    assert g.allowed(_ids("i see a red ball a blue cup")) == [ID["and"]]  # the last one next
    assert g.allowed(_ids("i see a red ball a blue cup and a red ball")) == [ID["<eos>"]]
    assert g.allowed(_ids("i see a red")) is None  # inside an item: the decoder decides
    g1 = _guide(1)
    assert g1.allowed(_ids("i see a blue cup")) == [ID["<eos>"]]
    g0 = _guide(0)  # nothing counted but the decoder listed one: that one ends the list
    assert g0.allowed(_ids("i see a blue cup")) == [ID["<eos>"]]


def test_other_answers_and_region_questions_are_left_alone():
    calls = []
    g = _guide(3, calls=calls)
    assert g.allowed(_ids("the ball is red")) is None
    assert g.allowed(_ids("there is the ball")) is None
    assert calls == []  # the count is not computed for answers that are not lists
    r = _guide(3, said=("what", "is", "on", "the", "left"))
    assert r.allowed(_ids("i see a red ball")) is None


def test_constrain_masks_all_but_the_allowed_words():
    g = _guide(2)
    logits = torch.arange(len(VOCAB), dtype=torch.float32)
    out = g.constrain(_ids("i see a red ball"), logits)
    assert int(out.argmax()) == ID["and"] and torch.isinf(out).sum() == len(VOCAB) - 1
    assert torch.equal(g.constrain(_ids("i see a red"), logits), logits)
    calls = []
    g = _guide(2, calls=calls)
    g.allowed(_ids("i see a red ball"))
    g.allowed(_ids("i see a red ball and a blue cup"))
    assert calls == [1]  # counted once per answer
