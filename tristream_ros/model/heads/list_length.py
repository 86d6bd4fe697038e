"""End-of-list control for answers that list what the camera sees (`copy.list_length_from_count`).

"describe what is in front of you" is answered with a list, "i see a red cone a blue cup and a
purple bottle", one item per object, left to right. The decoder chooses the items well (the copy
pointer walks the objects) but not how many: on 800 fresh test samples 39 of 59 list answers
had the wrong length (the last item repeated, or the list cut short), while the count read-out
(copy_head.CountProbe) gets the number of objects in view right on 0.92 of scenes.

So, parameter-free, while such an answer is decoded: after each item (a kind or plural word),
with n = the number of objects in view (the sum over kinds of the count read-out's most likely
count, at least 1) and k items so far,

    k >= n        -> the answer ends (<eos>)
    k == n - 1    -> "and" (the list's last item comes next)
    k <  n - 1    -> an article ("a" / "an": the next item)

An answer lists what is seen when it starts with "i see" and the user did not name a region
("what is on the left" is about one region, whose objects the count read-out does not separate);
every other answer is left to the decoder. The list phrase is the answer grammar the model is
trained on (data/language.list_phrase).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

LIST_PREFIX = ("i", "see")
LIST_AND = "and"


class ListLength:
    def __init__(self, token_id: Callable[[str], int], kind_ids: Sequence[int], region_ids: Sequence[int],
                 article_ids: Sequence[int], eos_id: int, said_ids: Sequence[int], n_objects: Callable[[], int]):
        """token_id: word -> vocabulary id; kind_ids: kind and plural word ids; region_ids: the
        region words; article_ids: "a", "an"; said_ids: the words the user said (query and
        context); n_objects: called once, when a list needs it."""
        self.prefix = [token_id(w) for w in LIST_PREFIX]
        self.and_id = token_id(LIST_AND)
        self.kinds = set(int(i) for i in kind_ids)
        self.articles = [int(i) for i in article_ids]
        self.eos = int(eos_id)
        self.region_said = not {int(r) for r in region_ids}.isdisjoint(int(i) for i in said_ids)
        self._n_objects = n_objects
        self._n: int | None = None

    def n_objects(self) -> int:
        if self._n is None:
            self._n = max(1, int(self._n_objects()))
        return self._n

    def allowed(self, generated: Sequence[int]) -> list[int] | None:
        """The word ids the next step may take after `generated` (None: any)."""
        if self.region_said or len(generated) < 3 or list(generated[:2]) != self.prefix:
            return None
        if int(generated[-1]) not in self.kinds:  # inside an item: the decoder's choice
            return None
        k = sum(int(t) in self.kinds for t in generated[2:])
        n = self.n_objects()
        if k >= n:
            return [self.eos]
        return [self.and_id] if k == n - 1 else self.articles

    def constrain(self, generated: Sequence[int], logits: torch.Tensor) -> torch.Tensor:
        """logits (V,) of the next word -> the same with every disallowed word at -inf."""
        ids = self.allowed(generated)
        if ids is None:
            return logits
        keep = torch.full_like(logits, float("-inf"))
        idx = torch.as_tensor(ids, dtype=torch.long, device=logits.device)
        return keep.index_copy(0, idx, logits.index_select(0, idx))
