"""Copy head: a pointer-generator that lets answers name what the camera sees and what was said.

The decoder's soft cross-attention alone learns colour/kind words slowly and not
compositionally (a "purple cone" never seen in training comes out as a seen pair), and it
would rather guess an object's kind from the image than repeat the one the user named. This
head makes naming an attribute a *copy*:

    probe:   STVE feature f_n -> p_colour(n) (C+1, 0 = background), p_kind(n) (K+1)
             (colour linear, kind with a 3x3 neighbourhood; trained on per-token ground truth
             and detached from the copy loss, so the colour and kind read-outs stay separate)
    vision pointer: alpha_n = softmax_n( q(h) . k(a_n) ),  a_n = [p_colour, p_kind, row one-hot,
             col one-hot]  (additive in the attributes: "red" and "ball" add up, so an unseen
             red-ball pair is found like a seen one)
    text pointer: beta_j = softmax_j( q_t(h) . k_t(e_j) ) over the words e_j the user said
             (the query, plus the previous turn where the expert reads it: fusion.context_routes)
    mixture: p(w) = m_gen softmax(lm)(w) + m_colour P_colour(w) + m_kind P_kind(w)
                    + m_plural P_plural(w) + m_region P_region(w) + m_text P_text(w)
                    + m_prep P_prep(w),
             m = softmax(mix(h)) (7,), components without a source (no vision, no words) get 0;
             P_colour(w) = sum_n alpha_n p_colour(n)[w] (renormalised without background),
             P_kind / P_plural likewise over the kind (plural) words, P_region from the
             pointer-weighted horizontal position u = sum_n alpha_n (col_n + 0.5) / gw
             (left < 1/3 <= middle < 2/3 <= right, soft edges; `target_u`: the action target's
             u instead, when the answer has one), P_prep the same over the word
             that comes before a region word ("on" the left, "in" the middle: without it the LM
             has to commit to "in"/"on" before the region is copied, and learns to guess both),
             P_text(w) = sum_{j: w_j = w} beta_j.
    count (optional, `count=True`): "how many cups": a small conv net reads the grid of the
             probe's per-token kind probabilities and gives P(count = 0..3 | kind) for every
             kind (trained on the scene's object counts, `count_loss`); the kind asked about is
             the kind word said (query; "cups" -> cup). Two more components: P_number over the
             number words ("no", "one", "two", "three") and P_verb over ("is", "are"): the verb
             comes before the number ("there is one cup", "there are two cups") and agrees with
             the same count distribution (P(is) = P(count = 1)).
    existence (optional, `existence=True`): "is there a white cone": the best match of the
             object said among the vision tokens, P(yes) = max_n p_kind(n)[kind said] x
             p_colour(n)[colour said] (the colour factor only when a colour was said), one more
             component over ("yes", "no"). Parameter-free on the probe's read-out, so it does
             not depend on how the question was phrased (the LM alone answered existence
             questions worse than chance on held-out phrasings, session 5: 0.25).
    pointer from said (optional, `pointer_from_said=True`): when the user named an object (a
             kind word, in the query or the previous turn) and the probe finds it (P(kind said) x
             P(colour said, if one was) >= SAID_OBJECT_MIN_MATCH on some token), alpha is put on
             the tokens that match it (within half of the best match) instead of the learnt
             pointer: "what colour is the ball" reads the colour where the ball is, "where is it"
             the region. Parameter-free, like existence: the learnt pointer found the wrong object
             for a held-out phrasing (session 6: "where is it" named the wrong side 0.55 of the time).
    said kind (optional, `said_kind=True`): the kind the user named, in either number: two more
             components, P_said_kind over the kind words and P_said_plural over the plural words,
             both = the kind (or plural) words said, averaged. The text pointer copies only the
             exact word said, so "count the cones" could not give "there is one cone" (the LM
             guessed the kind from the camera: "there is one ball", session 6's demo).

Everything here is on top of the decoder's hidden state, so the ONNX decoder (which returns
`hidden`) can be combined with this head outside the graph. See Pointer-Generator Networks
(See et al., 2017) for the mixture idea; the attribute probe/pointer design is this project's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

N_MIX = 7  # generate, colour, kind, plural kind, region, text, region preposition
N_MIX_COUNT = 9  # + count number word, count verb
# existence ("yes" / "no") is one more component after these (AttributeCopyHead.exist_index)
TEXT_COMPONENT = 5  # index of the text pointer in the mixture


def attribute_dim(n_colours: int, n_kinds: int, grid_hw: tuple[int, int]) -> int:
    """Width of a token's attribute vector: [p_colour (C+1), p_kind (K+1), row one-hot, col one-hot]."""
    return (n_colours + 1) + (n_kinds + 1) + grid_hw[0] + grid_hw[1]
MAX_COUNT = 3  # counts 0..3 (a scene holds at most one object per region)
REGION_EDGE_SHARPNESS = 30.0  # logistic slope of the soft region edges, per unit of u
SAID_OBJECT_MIN_MATCH = 0.3  # pointer_from_said: the object said must match a token this well (P kind x P colour)


@dataclass(frozen=True)
class CopyWords:
    """Vocabulary ids of the copyable words (same order as CopyConfig's names)."""

    colours: tuple[int, ...]
    kinds: tuple[int, ...]
    plurals: tuple[int, ...]
    regions: tuple[int, ...]  # left, middle, right
    prepositions: tuple[int, ...] = ()  # the word before each region word ("on" the left, "in" the middle, ...)
    numbers: tuple[int, ...] = ()  # count 0..MAX_COUNT as words ("no", "one", "two", "three")
    verbs: tuple[int, ...] = ()  # ("is", "are"): the verb before a count
    yes_no: tuple[int, ...] = ()  # ("yes", "no"): the answer to an existence question


class AttributeProbe(nn.Module):
    """Per-token colour and kind classifiers on STVE features (index 0 = background).

    Colour is read from the token itself (linear). Kind is a shape, spread over neighbouring
    tokens, so its classifier also sees a 3x3 neighbourhood: the tokens are scattered back onto
    the vision grid (absent tokens, e.g. dropped by the sparse budget, are zeros), convolved,
    and gathered at their own cells. Measured on cached demo-run tokens (1000 train / 200 other
    scenes): kind accuracy on object tokens 0.53 linear, 0.56 MLP, 0.67 with the 3x3 context."""

    def __init__(self, vision_dim: int, n_colours: int, n_kinds: int, grid_hw: tuple[int, int],
                 context_dim: int = 128, kind_debias: bool = False, kind_shape_only: bool = False):
        super().__init__()
        self.grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        self.colour = nn.Linear(vision_dim, n_colours + 1)
        self.context = nn.Conv2d(vision_dim, context_dim, 3, padding=1)
        self.kind = nn.Linear(vision_dim + context_dim, n_kinds + 1)
        # training-only colour -> kind bias (product of experts, Clark et al. 2019): added to the
        # kind logits in `loss` with the token's true colour, never at inference. Training scenes
        # never show some pairs (a blue ball); the table learns that prior, so the kind
        # classifier does not have to and keeps naming shape on a held-out pair.
        self.kind_bias = None
        if kind_debias:
            self.kind_bias = nn.Embedding(n_colours + 1, n_kinds + 1)
            nn.init.zeros_(self.kind_bias.weight)
        # `kind_shape_only`: the kind classifier (and its 3x3 context) reads each token through
        # this (Dv, Dv) projection, which training/kind_readout.py sets to remove the colour
        # branch's output subspace (identity until then). Colour pixels then cannot stand in for
        # shape: every cone has a white band, so "white pixels" had come to mean "cone" and a
        # white ball (a held-out pair) was read as a cone on 0.6 of its tokens.
        self.register_buffer("kind_projection", torch.eye(vision_dim) if kind_shape_only else None)

    def forward(self, feats: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, N, Dv), rows/cols (B, N) long grid cells, mask (B, N) bool (None = all
        present) -> colour logits (B, N, C+1), kind logits (B, N, K+1)."""
        B, N, D = feats.shape
        gh, gw = self.grid_hw
        colour_logits = self.colour(feats)
        if self.kind_projection is not None:
            feats = feats @ self.kind_projection.to(feats.dtype)  # (B, N, Dv), colour subspace removed
        present = feats if mask is None else feats * mask.unsqueeze(-1).to(feats.dtype)
        cell = (rows.clamp(0, gh - 1) * gw + cols.clamp(0, gw - 1)).long()  # (B, N)
        grid = feats.new_zeros(B, gh * gw, D).scatter_add(1, cell.unsqueeze(-1).expand(B, N, D), present)
        ctx = F.gelu(self.context(grid.transpose(1, 2).reshape(B, D, gh, gw)))  # (B, Cc, gh, gw)
        ctx = ctx.flatten(2).transpose(1, 2)  # (B, gh*gw, Cc)
        ctx = ctx.gather(1, cell.unsqueeze(-1).expand(B, N, ctx.shape[-1]))  # (B, N, Cc) at each token's cell
        return colour_logits, self.kind(torch.cat([feats, ctx], -1))

    def loss(self, feats: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, mask: torch.Tensor | None,
             colour: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against per-token labels colour/kind (B, N) long (-100 = unlabelled) on
        the present tokens."""
        return self.loss_from_logits(*self(feats, rows, cols, mask), mask, colour, kind)

    def loss_from_logits(self, c: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None,
                         colour: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
        """`loss` from the probe's own logits c (B, N, C+1), k (B, N, K+1) (one forward pass
        serves the loss and the attributes)."""
        if self.kind_bias is not None:
            k = k + self.kind_bias(colour.clamp_min(0))  # (B, N, K+1); unlabelled tokens are ignored below
        if mask is not None:
            colour, kind = colour.masked_fill(~mask, -100), kind.masked_fill(~mask, -100)
        return F.cross_entropy(c.flatten(0, -2), colour.flatten(), ignore_index=-100) + \
            F.cross_entropy(k.flatten(0, -2), kind.flatten(), ignore_index=-100)


class CountProbe(nn.Module):
    """P(count = 0..MAX_COUNT | kind) for every kind, from the grid of per-token kind
    probabilities (B, K+1, gh, gw) (absent tokens: zeros): two 3x3 convolutions, a sum over the
    grid (counting is additive over space), a linear read-out."""

    def __init__(self, n_kinds: int, width: int = 32):
        super().__init__()
        self.n_kinds = n_kinds
        self.conv = nn.Sequential(nn.Conv2d(n_kinds + 1, width, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.GELU())
        self.out = nn.Linear(width, n_kinds * (MAX_COUNT + 1))

    def forward(self, kind_grid: torch.Tensor) -> torch.Tensor:
        """(B, K+1, gh, gw) -> count logits (B, K, MAX_COUNT + 1)."""
        x = self.conv(kind_grid).sum((-2, -1))  # (B, width)
        return self.out(x).view(-1, self.n_kinds, MAX_COUNT + 1)


def _said(text_ids: torch.Tensor, text_mask: torch.Tensor, ids: tuple[int, ...], dtype) -> torch.Tensor:
    """(M, L) word ids said, (M, L) mask -> (M, len(ids)) 1.0 where that word was said."""
    want = torch.as_tensor(ids, dtype=torch.long, device=text_ids.device)
    return ((text_ids[..., None] == want) & text_mask[..., None]).any(1).to(dtype)


def _asked(text_ids: torch.Tensor, text_mask: torch.Tensor, words: "CopyWords", dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The kind asked about: kind (or plural) words said, averaged -> (asked (M, K), has_kind (M,) bool)."""
    asked = (_said(text_ids, text_mask, words.kinds, dtype)
             + _said(text_ids, text_mask, words.plurals, dtype)).clamp(max=1.0)  # (M, K) kind or plural
    return asked / asked.sum(-1, keepdim=True).clamp_min(1.0), asked.sum(-1) > 0


def _said_object(match: torch.Tensor, has_kind: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """match (M, N) (`_said_match`), has_kind (M,) -> (weights (M, N) summing to 1 on the tokens
    of the object said: within half of the best match; found (M,) bool: a kind was said and some
    token matches it at least SAID_OBJECT_MIN_MATCH)."""
    best = match.amax(-1, keepdim=True)  # (M, 1)
    w = match * (match >= 0.5 * best)  # (M, N)
    found = has_kind & (best[:, 0] >= SAID_OBJECT_MIN_MATCH)  # (M,)
    return w / w.sum(-1, keepdim=True).clamp_min(1e-9), found


def _best_match(match: torch.Tensor) -> torch.Tensor:
    """match (M, N) -> (M,) the best token's match, the existence read-out's P(yes)."""
    return match.amax(-1).clamp(0.0, 1.0)


class AttributeCopyHead(nn.Module):
    def __init__(self, hidden: int, vision_dim: int, n_colours: int, n_kinds: int,
                 grid_hw: tuple[int, int], pointer_dim: int = 64, kind_debias: bool = False,
                 count: bool = False, existence: bool = False, said_kind: bool = False,
                 pointer_from_said: bool = False, kind_shape_only: bool = False):
        super().__init__()
        self.n_colours, self.n_kinds = n_colours, n_kinds
        self.grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        gh, gw = self.grid_hw
        self.n_mix = N_MIX_COUNT if count else N_MIX
        self.exist_index = None
        if existence:
            self.exist_index, self.n_mix = self.n_mix, self.n_mix + 1
        self.pointer_from_said = pointer_from_said
        self.said_kind_index = None  # (singular, plural) components: said_kind_index, said_kind_index + 1
        if said_kind:
            self.said_kind_index, self.n_mix = self.n_mix, self.n_mix + 2
        self.count = CountProbe(n_kinds) if count else None
        self.probe = AttributeProbe(vision_dim, n_colours, n_kinds, self.grid_hw, kind_debias=kind_debias,
                                    kind_shape_only=kind_shape_only)
        self.attr_dim = attribute_dim(n_colours, n_kinds, (gh, gw))
        self.key = nn.Linear(self.attr_dim, pointer_dim)
        self.query = nn.Linear(hidden, pointer_dim)
        self.text_key = nn.Linear(hidden, pointer_dim)
        self.text_query = nn.Linear(hidden, pointer_dim)
        self.mix = nn.Linear(hidden, self.n_mix)
        with torch.no_grad():  # start close to the plain LM: generation gets most of the mass
            self.mix.bias.copy_(torch.tensor([2.0] + [0.0] * (self.n_mix - 1)))

    def _said_match(self, attrs: torch.Tensor, mask: torch.Tensor, asked: torch.Tensor,
                    colour_said: torch.Tensor) -> torch.Tensor:
        """(M, N): how well each token matches the object said: P(kind said) x P(colour said) (the
        colour factor only where a colour was said; absent tokens 0). asked (M, K) the kind said
        (normalised), colour_said (M, C) 1.0 where a colour word was said."""
        C, K = self.n_colours, self.n_kinds
        has_colour = colour_said.sum(-1) > 0
        colour_said = colour_said / colour_said.sum(-1, keepdim=True).clamp_min(1.0)
        p_kind = torch.einsum("mnk,mk->mn", attrs[..., C + 2:C + 2 + K], asked)  # (M, N) P(token is that kind)
        p_col = torch.einsum("mnc,mc->mn", attrs[..., 1:C + 1], colour_said)
        p_col = torch.where(has_colour[:, None], p_col, torch.ones_like(p_col))
        return (p_kind * p_col).masked_fill(~mask, 0.0)

    def said_object(self, attrs: torch.Tensor, mask: torch.Tensor, words: "CopyWords", text_ids: torch.Tensor,
                    text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the probe finds the object the user named: attrs (M, N, A), mask (M, N), the
        words said text_ids / text_mask (M, L) -> (weights (M, N) over that object's tokens,
        found (M,) bool) (the selection `pointer_from_said` puts the copy pointer on)."""
        return _said_object(*self._match_of_said(attrs, mask, words, text_ids, text_mask))

    def said_best_match(self, attrs: torch.Tensor, mask: torch.Tensor, words: "CopyWords", text_ids: torch.Tensor,
                        text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The existence read-out's evidence: (best (M,) the best match of the object said over
        the vision tokens, P(kind said) x P(colour said); has_kind (M,) bool: a kind was said)."""
        match, has_kind = self._match_of_said(attrs, mask, words, text_ids, text_mask)
        return _best_match(match), has_kind

    def _match_of_said(self, attrs, mask, words: "CopyWords", text_ids, text_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """(_said_match (M, N) for the words said, has_kind (M,) bool)."""
        asked, has_kind = _asked(text_ids, text_mask, words, attrs.dtype)
        return self._said_match(attrs, mask, asked, _said(text_ids, text_mask, words.colours, attrs.dtype)), has_kind

    def kind_grid(self, attrs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """attrs (B, N, A), mask (B, N) -> the probe's kind probabilities on the token grid
        (B, K+1, gh, gw), zeros where no token is present."""
        C, K = self.n_colours, self.n_kinds
        gh, gw = self.grid_hw
        pk = attrs[..., C + 1:C + 2 + K] * mask.unsqueeze(-1).to(attrs.dtype)  # (B, N, K+1)
        row1h = attrs[..., C + K + 2:C + K + 2 + gh]  # (B, N, gh)
        col1h = attrs[..., C + K + 2 + gh:]  # (B, N, gw)
        return torch.einsum("bnk,bnr,bnc->bkrc", pk, row1h, col1h)  # (B, K+1, gh, gw)

    def count_logits(self, attrs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, N, A), (B, N) -> (B, K, MAX_COUNT + 1) count logits per kind."""
        return self.count(self.kind_grid(attrs, mask))

    def count_loss(self, attrs: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of count_logits against the scene's object count per kind (B, K) long
        (-100: unlabelled; counts above MAX_COUNT are clipped)."""
        logits = self.count_logits(attrs, mask)
        target = counts.clamp(max=MAX_COUNT).masked_fill(counts < 0, -100)
        if not bool((target >= 0).any()):  # nothing labelled: no loss (cross_entropy would be NaN)
            return logits.sum() * 0.0
        return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)

    def attributes(self, feats: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """feats (B, N, Dv), rows/cols (B, N) long, mask (B, N) bool -> a (B, N, attr_dim):
        [p_colour, p_kind, row one-hot, col one-hot]. Probabilities are detached: the probe
        learns from labels only."""
        return self.attributes_from_logits(*self.probe(feats, rows, cols, mask), rows, cols)

    def attributes_from_logits(self, c: torch.Tensor, k: torch.Tensor, rows: torch.Tensor,
                               cols: torch.Tensor) -> torch.Tensor:
        """`attributes` from the probe's logits c (B, N, C+1), k (B, N, K+1)."""
        gh, gw = self.grid_hw
        return torch.cat([c.softmax(-1).detach(), k.softmax(-1).detach(),
                          F.one_hot(rows.clamp(0, gh - 1), gh).to(c.dtype),
                          F.one_hot(cols.clamp(0, gw - 1), gw).to(c.dtype)], -1)

    def log_probs(self, h: torch.Tensor, lm_logits: torch.Tensor, words: CopyWords,
                  attrs: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                  text_emb: torch.Tensor | None = None, text_ids: torch.Tensor | None = None,
                  text_mask: torch.Tensor | None = None, target_u: torch.Tensor | None = None,
                  parts: dict | None = None) -> torch.Tensor:
        """Log p (M, V) of the mixture at M positions.

        h (M, d) decoder states, lm_logits (M, V); vision: attrs (M, N, A) and mask (M, N) bool of
        each position's vision tokens (None: no vision); text: text_emb (M, L, d) embeddings of
        the words said, text_ids (M, L) their vocabulary ids, text_mask (M, L) bool (None: none).
        A row with neither source is the plain LM distribution. target_u (M,): the horizontal
        position in [0, 1] of the answer's action target (NaN: none); where given, the region
        words are read from it instead of from the pointer. `parts` (a dict, training): filled
        with "mix" (M, n_mix) weights, "text" (M, V) the text pointer's word distribution and,
        with said_kind, "said_kind" (M, V) the mass its two components put on each word."""
        M = h.shape[0]
        dev = h.device
        mix = self.mix(h)  # (M, n_mix)
        avail = torch.zeros(M, self.n_mix, dtype=torch.bool, device=dev)
        avail[:, 0] = True  # generation is always possible
        p_parts: list[tuple[int, tuple[int, ...] | None, torch.Tensor]] = []  # (component, word ids, dist)
        any_said = text_ids is not None and text_mask is not None and text_ids.shape[1] > 0
        said_words = attrs is not None and mask is not None and any_said
        match = None
        if any_said:
            asked, has_kind = _asked(text_ids, text_mask, words, h.dtype)
        if said_words and (self.exist_index is not None or self.pointer_from_said):
            match = self._said_match(attrs, mask, asked, _said(text_ids, text_mask, words.colours, h.dtype))
        if attrs is not None and mask is not None:
            C, K = self.n_colours, self.n_kinds
            gh, gw = self.grid_hw
            score = torch.einsum("mp,mnp->mn", self.query(h), self.key(attrs)) / self.key.out_features ** 0.5
            alpha = torch.nan_to_num(score.masked_fill(~mask, float("-inf")).softmax(-1), nan=0.0)  # (M, N)
            if match is not None and self.pointer_from_said:
                w, found = _said_object(match, has_kind)
                alpha = torch.where(found[:, None], w, alpha)
            pc = attrs[..., 1:C + 1]  # (M, N, C) colour probs without background
            pk = attrs[..., C + 2:C + 2 + K]  # (M, N, K)
            pc = (pc + 1e-6) / (pc.sum(-1, keepdim=True) + C * 1e-6)  # a pure-background token: uniform
            pk = (pk + 1e-6) / (pk.sum(-1, keepdim=True) + K * 1e-6)
            colour = torch.einsum("mn,mnc->mc", alpha, pc)  # (M, C)
            kind = torch.einsum("mn,mnk->mk", alpha, pk)  # (M, K)
            col1h = attrs[..., C + K + 2 + gh:]  # (M, N, gw)
            centres = (torch.arange(gw, dtype=h.dtype, device=dev) + 0.5) / gw  # (gw,) u of each column
            u = torch.einsum("mn,mnw,w->m", alpha, col1h, centres)  # (M,) pointer-weighted horizontal position
            if target_u is not None:
                target_u = target_u.to(device=dev, dtype=u.dtype)
                u = torch.where(torch.isfinite(target_u), target_u, u)
            left = torch.sigmoid((1 / 3 - u) * REGION_EDGE_SHARPNESS)
            right = torch.sigmoid((u - 2 / 3) * REGION_EDGE_SHARPNESS)
            region = torch.stack([left, (1 - left - right).clamp_min(0.0), right], -1)  # (M, 3)
            seen = mask.any(-1)  # (M,) positions with at least one vision token
            avail[:, 1:5] = seen[:, None]
            p_parts += [(1, words.colours, colour), (2, words.kinds, kind), (3, words.plurals, kind),
                        (4, words.regions, region)]
            if words.prepositions:  # "in" vs "on" is decided before the region word: from the same pointer
                avail[:, 6] = seen
                p_parts.append((6, words.prepositions, region))
        if said_words:
            ok = has_kind & mask.any(-1)  # a kind was said and vision tokens are there
        if any_said and self.said_kind_index is not None:
            j = self.said_kind_index
            avail[:, j] = has_kind
            avail[:, j + 1] = has_kind
            p_parts += [(j, words.kinds, asked), (j + 1, words.plurals, asked)]
        if said_words and self.exist_index is not None and words.yes_no:
            best = _best_match(match)  # (M,) the best match of the object said
            avail[:, self.exist_index] = ok
            p_parts.append((self.exist_index, words.yes_no, torch.stack([best, 1.0 - best], -1)))
        if self.count is not None and said_words and words.numbers:
            counts = self.count_logits(attrs, mask).softmax(-1)  # (M, K, MAX_COUNT + 1)
            number = torch.einsum("mk,mkc->mc", asked, counts)  # (M, MAX_COUNT + 1)
            avail[:, 7] = ok
            p_parts.append((7, words.numbers, number))
            if len(words.verbs) == 2:  # "is" for one, "are" otherwise
                verb = torch.stack([number[:, 1], 1.0 - number[:, 1]], -1)  # (M, 2)
                avail[:, 8] = ok
                p_parts.append((8, words.verbs, verb))
        if text_emb is not None and text_ids is not None and text_mask is not None and text_ids.shape[1] > 0:
            score = torch.einsum("mp,mlp->ml", self.text_query(h), self.text_key(text_emb)) \
                / self.text_key.out_features ** 0.5
            beta = torch.nan_to_num(score.masked_fill(~text_mask, float("-inf")).softmax(-1), nan=0.0)  # (M, L)
            avail[:, 5] = text_mask.any(-1)
            p_parts.append((5, None, beta))
        m = mix.masked_fill(~avail, float("-inf")).softmax(-1)  # (M, n_mix)
        p = m[:, :1] * lm_logits.float().softmax(-1)  # (M, V)
        if parts is not None:
            parts["mix"] = m
        for j, ids, dist in p_parts:
            if ids is None:  # text copy: scatter onto the words said
                p = p.scatter_add(1, text_ids, m[:, j:j + 1] * dist.to(p.dtype))
                if parts is not None:
                    parts["text"] = torch.zeros_like(p).scatter_add(1, text_ids, dist.to(p.dtype))  # (M, V)
            else:
                idx = torch.as_tensor(ids, dtype=torch.long, device=dev)
                p = p.index_add(1, idx, m[:, j:j + 1] * dist.to(p.dtype))
                if parts is not None and self.said_kind_index is not None and j in (self.said_kind_index,
                                                                                    self.said_kind_index + 1):
                    parts["said_kind"] = parts.get("said_kind", torch.zeros_like(p)).index_add(
                        1, idx, m[:, j:j + 1] * dist.to(p.dtype))  # (M, V)
        return p.clamp_min(1e-12).log()
