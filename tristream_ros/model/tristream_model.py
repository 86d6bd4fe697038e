"""TriStreamModel: the whole tri-modal model (STVE + speech projector + fusion decoder +
router + cascade + action head), pure PyTorch, no ROS.

Prompt layout (one sequence per query; every input embedding also gets the route embedding):

    <bos> [speech token projections ...] <sep> [context words*] <sep> [query words] <sep>
      answer words ... <eos>

The hidden state at the last prompt position (the final <sep>) feeds the action head and the
per-expert sufficiency (confidence) head, so the route decision and the action are known
after one prefill, before the first text token.

*the previous turn, on the experts of `fusion.context_routes` (the trimodal expert always).

Vision is encoded, projected and attended only on vision routes ("vision", "speech_vision",
"trimodal"). For a query answered by the "speech" expert the STVE and the vision projector do
not run at all (tests count their calls).

Training: `forward_train(batch)` (batch format in its docstring). Inference: `answer(query)`
yields RouteChosen, Action, TextDelta..., Done.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.model.config import (ROUTE_INDEX, ROUTE_RANK, ROUTES, VISION_ROUTES,
                                        TriStreamConfig)
from tristream_ros.model.dialogue import refers_back
from tristream_ros.model.fusion.cascade import CascadeTrace, run_cascade, trace_costs
from tristream_ros.model.fusion.decoder import FusionDecoder, KVCache, VisionContext
from tristream_ros.model.fusion.router import cascade_order, feasible_routes, QueryRouter
from tristream_ros.model.heads.action_head import ActionHead, action_losses, decode_target
from tristream_ros.model.heads.copy_head import TEXT_COMPONENT, AttributeCopyHead, CopyWords, attribute_dim
from tristream_ros.model.heads.list_length import ListLength
from tristream_ros.model.text_tokenizer import (ARTICLES, BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID, TextTokenizer,
                                                 article_for)
from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder, VisionTokens

IGNORE = -100
DEFAULT_LOSS_WEIGHTS = {"lm": 1.0, "action": 1.0, "pointer": 0.5, "offset": 0.5, "router": 0.5,
                        "sufficiency": 0.5, "vision_budget": 0.1, "ctc": 1.0, "attributes": 0.5, "counts": 0.5}

# --- query / events (docs/design.md) -------------------------------------------------------
VisionInput = Union[None, np.ndarray, torch.Tensor, list, VisionTokens, Callable[[], VisionTokens]]


@dataclass
class Query:
    """One question or command.

    text: transcript of the spoken query (live CTC / front end) or a typed query.
    speech_tokens: (T', Ds) adapter output of the SpeechTokenizer, or None (typed query).
    vision: None (no camera), frames (uint8 (H,W,3), (T,H,W,3) or a list: encoded by the
        model's STVE only if the route needs them), ready VisionTokens (e.g. from the vision
        node), or a zero-argument callable returning VisionTokens (called only if needed).
    context_text: the previous turn (read by the experts of fusion.context_routes), or None.
    spoken: whether the query was spoken; None = "it has speech tokens". A spoken query with a
        transcript but no speech tokens (front end without an encoder: Utterance.tokens of
        shape (0, 0)) sets spoken=True and is routed like any spoken query.
    """

    text: str = ""
    speech_tokens: torch.Tensor | np.ndarray | None = None
    vision: VisionInput = None
    context_text: str | None = None
    spoken: bool | None = None


@dataclass
class RouteChosen:
    route: str
    confidence: float
    escalations: int


@dataclass
class TextDelta:
    text: str


@dataclass
class Action:
    name: str
    confidence: float
    target_uv: tuple[float, float] | None


@dataclass
class Done:
    latencies_ms: dict[str, float]
    text: str = ""
    flops: float = 0.0
    trace: CascadeTrace | None = None


AnswerEvent = Union[RouteChosen, TextDelta, Action, Done]


# --- the one place that knows the vision encoder's API ------------------------------------
class _VisionBridge:
    """Adapts STVE (model/vision/stve.py) outputs to (features, rows, cols, mask, importance)."""

    @staticmethod
    def build(model: "TriStreamModel") -> nn.Module:
        return SparseTemporalVisionEncoder(model.config.vision)

    @staticmethod
    def encode(encoder: nn.Module, frames, dense: bool = False) -> VisionTokens:
        return encoder.encode(frames, dense=dense)

    @staticmethod
    def single(tokens: VisionTokens):
        """VisionTokens -> tensors with a batch axis of 1."""
        feats = torch.as_tensor(tokens.features, dtype=torch.float32)
        if feats.dim() != 2:
            raise InputError(f"VisionTokens.features must be (N, D), got {tuple(feats.shape)}")
        n = feats.shape[0]
        rows = torch.as_tensor(tokens.rows, dtype=torch.long).reshape(n)
        cols = torch.as_tensor(tokens.cols, dtype=torch.long).reshape(n)
        imp = torch.as_tensor(tokens.importance, dtype=torch.float32).reshape(n)
        return feats[None], rows[None], cols[None], torch.ones(1, n, dtype=torch.bool), imp[None]

    @staticmethod
    def train_batch(encoder: nn.Module, images: torch.Tensor, dense: bool):
        """images (B, T, 3, H, W) float [0,1] (or uint8 (B, T, H, W, 3) camera frames) ->
        features (B,N,D) (masked by the STE keep mask), rows, cols (B,N), mask (B,N) bool,
        importance (B,N), budget loss (None when dense)."""
        if images.dtype == torch.uint8:
            if images.dim() != 5 or images.shape[-1] != 3:
                raise InputError(f"uint8 images must be (B, T, H, W, 3), got {tuple(images.shape)}")
            images = images.permute(0, 1, 4, 2, 3).float() / 255.0  # (B, T, 3, H, W)
        out = encoder.forward_train(images)
        B, N, _ = out.tokens.shape
        h, w = encoder.config.grid_hw
        idx = torch.arange(N)
        rows, cols = (idx // w).expand(B, N), (idx % w).expand(B, N)
        if dense:
            return out.tokens, rows, cols, torch.ones(B, N, dtype=torch.bool), out.scores, None
        keep = out.keep_mask  # (B, N) hard forward, sigmoid gradient backward
        feats = out.tokens * keep.unsqueeze(-1)
        return feats, rows, cols, keep.detach() > 0.5, out.scores, out.budget_loss()


def _other_number(ids: torch.Tensor, words: CopyWords) -> torch.Tensor:
    """Word ids (M,) -> the same kind in the other number ("cone" <-> "cones"); -1 for other words."""
    out = torch.full_like(ids, -1)
    for singular, plural in zip(words.kinds, words.plurals):
        out = torch.where(ids == singular, torch.full_like(ids, plural), out)
        out = torch.where(ids == plural, torch.full_like(ids, singular), out)
    return out


def _pad_ids(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max([len(s) for s in seqs] + [1])
    ids = torch.full((len(seqs), n), PAD_ID, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.bool)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, : len(s)] = True
    return ids, mask


def _precomputed_vision(batch: dict, grid_w: int, dev) -> tuple:
    """batch["vision_features"] (B, N, Dv) and its optional companions -> (features, rows, cols,
    mask | None, importance | None) for all B examples; rows/cols default to the raster grid."""
    feats = torch.as_tensor(batch["vision_features"], dtype=torch.float32, device=dev)
    B, n = feats.shape[:2]
    grid = torch.arange(n, device=dev)
    rows = torch.as_tensor(batch["vision_rows"], device=dev).long() if "vision_rows" in batch \
        else (grid // grid_w).expand(B, n)
    cols = torch.as_tensor(batch["vision_cols"], device=dev).long() if "vision_cols" in batch \
        else (grid % grid_w).expand(B, n)
    mask = torch.as_tensor(batch["vision_mask"], dtype=torch.bool, device=dev) if "vision_mask" in batch else None
    imp = torch.as_tensor(batch["vision_importance"], dtype=torch.float32, device=dev) \
        if "vision_importance" in batch else None
    return feats, rows, cols, mask, imp


def _route_ids(values, B: int, what: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        t = values.long().reshape(-1)
    else:
        t = torch.tensor([ROUTE_INDEX[v] if isinstance(v, str) else int(v) for v in values], dtype=torch.long)
    if t.numel() != B or bool(((t < 0) | (t >= len(ROUTES))).any()):
        raise InputError(f"batch[{what!r}] must hold {B} route ids in [0, {len(ROUTES)}), got {t.tolist()}")
    return t


class TriStreamModel(nn.Module):
    def __init__(self, config: TriStreamConfig, tokenizer: TextTokenizer | None = None):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        f = config.fusion
        if tokenizer is not None and len(tokenizer) != f.vocab_size:
            raise InputError(f"tokenizer has {len(tokenizer)} words but fusion.vocab_size={f.vocab_size}")
        d = f.hidden_size
        gh, gw = config.vision_grid
        self.vision = _VisionBridge.build(self)  # STVE
        self.vision_proj = nn.Sequential(nn.Linear(config.vision_dim, d), nn.GELU(), nn.Linear(d, d))
        self.vision_row = nn.Embedding(gh, d)
        self.vision_col = nn.Embedding(gw, d)
        self.vision_pool = nn.Linear(d, d)
        self.speech_proj = nn.Linear(config.speech_dim, d)
        self.route_embed = nn.Embedding(len(ROUTES), d)
        self.decoder = FusionDecoder(f)
        self.router = QueryRouter(config.speech_dim, d, f.router_hidden)
        pointer_attrs = config.action.pointer_attributes
        if pointer_attrs and not config.copy.enabled:
            raise InputError("action.pointer_attributes reads the copy head's token attributes: it needs copy.enabled")
        attr_dim = attribute_dim(len(config.copy.colours), len(config.copy.kinds), (gh, gw)) if pointer_attrs else 0
        self.action_head = ActionHead(d, len(config.action.actions), f.pointer_dim, attr_dim)
        self.sufficiency = nn.Linear(d, len(ROUTES))
        # attribute copy head (config.copy.enabled): answers copy colour/kind/region words from
        # the vision token they point at (model/heads/copy_head.py)
        self.copy_head: AttributeCopyHead | None = None
        self.copy_words: CopyWords | None = None
        cc = config.copy
        if cc.enabled:
            if tokenizer is None:
                raise InputError("config.copy.enabled needs the model's TextTokenizer (TriStreamModel(config, tokenizer))")
            missing = [w for w in cc.colours + cc.kinds + cc.plurals + cc.regions + cc.region_prepositions
                       + ((cc.numbers + cc.count_verbs) if cc.count else ()) + (cc.yes_no if cc.existence else ())
                       + (cc.not_seen if cc.absent_min_match else ()) if w not in tokenizer]
            if missing:
                raise InputError(f"config.copy names words the tokenizer does not have: {missing}")
            self.copy_head = AttributeCopyHead(d, config.vision_dim, len(cc.colours), len(cc.kinds),
                                               (gh, gw), cc.pointer_dim, kind_debias=cc.kind_debias,
                                               count=cc.count, existence=cc.existence, said_kind=cc.said_kind,
                                               pointer_from_said=cc.pointer_from_said,
                                               kind_shape_only=cc.kind_shape_only)
            ids = lambda ws: tuple(tokenizer.token_to_id(w) for w in ws)  # noqa: E731
            self.copy_words = CopyWords(ids(cc.colours), ids(cc.kinds), ids(cc.plurals), ids(cc.regions),
                                        ids(cc.region_prepositions), ids(cc.numbers) if cc.count else (),
                                        ids(cc.count_verbs) if cc.count else (),
                                        ids(cc.yes_no) if cc.existence else ())
        for emb in (self.vision_row, self.vision_col, self.route_embed):
            nn.init.normal_(emb.weight, std=0.02)
        # Optional CTC hook: fn(batch, outputs) -> loss tensor, e.g. the speech path's CTC loss
        # when the speech encoder is trained jointly. Added to losses as "ctc".
        self.ctc_hook: Callable[[dict, dict], torch.Tensor] | None = None
        # answer(): encode frames with all vision tokens instead of the sparse budget (to
        # measure the price of sparsity side by side).
        self.dense_vision = False

    # ------------------------------------------------------------------------------------
    # encoders
    @property
    def device(self) -> torch.device:
        return self.route_embed.weight.device

    def encode_vision(self, frames, dense: bool | None = None) -> VisionTokens:
        """uint8 (T,H,W,3) / (H,W,3) / list -> VisionTokens (STVE with tile cache + pooling).
        dense=True keeps all grid tokens (default: `self.dense_vision`, False = sparse budget)."""
        return _VisionBridge.encode(self.vision, frames, self.dense_vision if dense is None else dense)

    def project_vision(self, feats, rows, cols, mask, importance) -> VisionContext:
        """STVE features (B,N,Dv) + grid positions -> decoder-width VisionContext."""
        tok = self.vision_proj(feats) + self.vision_row(rows) + self.vision_col(cols)  # (B, N, d)
        w = mask.to(tok.dtype) * (importance if importance is not None else 1.0)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-6)
        pooled = self.vision_pool((tok * w.unsqueeze(-1)).sum(1))  # (B, d)
        attrs = self.copy_head.attributes(feats, rows, cols, mask) if self.copy_head is not None else None
        return VisionContext(tokens=tok, mask=mask, pooled=pooled, attributes=attrs)

    def next_log_probs(self, h: torch.Tensor, vision: VisionContext | None,
                       said_ids: Sequence[int] = (), target_u: float | None = None) -> torch.Tensor:
        """h (M, d) decoder states of one example's positions -> next-word scores (M, V): the
        LM logits, or with a copy head the log-probabilities of the copy mixture over the
        vision tokens' attributes and the words said (`said_ids`: query + context for the
        experts that read it). target_u: horizontal position of the action's target (copy.region_from_target).
        argmax and log_softmax treat both alike."""
        logits = self.decoder.logits(h)
        if self.copy_head is None:
            return logits
        M = h.shape[0]
        kw = {}
        if vision is not None and vision.attributes is not None:
            kw["attrs"] = vision.attributes[0].expand(M, -1, -1)  # (M, N, A)
            kw["mask"] = vision.mask[0].expand(M, -1)
            if target_u is not None and self.config.copy.region_from_target:
                kw["target_u"] = torch.full((M,), float(target_u), device=h.device)
        if len(said_ids):
            ids = torch.as_tensor(list(said_ids), dtype=torch.long, device=h.device)[None].expand(M, -1)  # (M, L)
            kw.update(text_emb=self.decoder.embed_tokens(ids), text_ids=ids,
                      text_mask=torch.ones_like(ids, dtype=torch.bool))
        return self.copy_head.log_probs(h, logits, self.copy_words, **kw)

    def embed_speech(self, speech: torch.Tensor) -> torch.Tensor:
        """(..., S, Ds) speech tokens -> (..., S, d)."""
        return self.speech_proj(speech)

    # ------------------------------------------------------------------------------------
    # prompt assembly
    def _prompt_embeddings(self, route: int, speech: torch.Tensor | None, query_ids: Sequence[int],
                           context_ids: Sequence[int]) -> torch.Tensor:
        """One example's prompt (T, d) (see module docstring)."""
        emb = self.decoder.embed_tokens
        dev = self.device

        def words(ids):
            return emb(torch.as_tensor(list(ids), dtype=torch.long, device=dev))

        parts = [words([BOS_ID])]
        if speech is not None and speech.shape[0] > 0:
            parts.append(self.embed_speech(speech))
        parts.append(words([SEP_ID]))
        if self.config.fusion.reads_context(route) and len(context_ids):
            parts.append(words(context_ids))
        parts.append(words([SEP_ID]))
        if len(query_ids):
            parts.append(words(query_ids))
        parts.append(words([SEP_ID]))
        return torch.cat(parts, 0) + self.route_embed.weight[route]

    def _router_logits(self, speech, speech_mask, q_ids, q_mask, c_ids, c_mask, has_vision, spoken):
        emb = self.decoder.embed_tokens
        return self.router(speech, speech_mask, emb(q_ids), q_mask, emb(c_ids), c_mask, has_vision, spoken)

    # ------------------------------------------------------------------------------------
    # training
    def forward_train(self, batch: dict, loss_weights: dict | None = None,
                      modal_dropout: float | None = None, input_dropout: float | None = None,
                      dense_vision: bool = False, generator: random.Random | None = None,
                      full_logits: bool = True):
        """Teacher-forced pass over a batch. Returns (outputs, losses); losses["total"] is the
        weighted sum (weights: DEFAULT_LOSS_WEIGHTS updated by `loss_weights`).

        losses: lm (answer CE, examples whose expert is sufficient), action, pointer, offset,
        router, sufficiency, vision_budget (images only), attributes (copy head probe, with
        vision_colour/vision_kind labels), ctc (with ctc_hook), total.
        outputs: lm_logits (B, T, V) (None with full_logits=False: use that for a 150k vocabulary),
        labels (B, T) answer targets, -100 elsewhere and for examples whose expert is insufficient;
        answer_logits (M, V) at the M answer positions (log-probs of the copy mixture where the copy
        head applies; lm_logits carries them at those positions too) (answer_positions (B, T) mask,
        answer_labels (M,)), answer_logprob (B,) summed log-prob of answer + <eos> (for DPO /
        distillation), action_logits (B, A), pointer_logits (B, N) | None, pointer_offsets,
        vision_rows / vision_cols / vision_mask, router_logits (B, 4), sufficiency_logits (B,),
        sufficient (B,) bool, expert_route (B,), hidden_last (B, d).

        batch keys (B examples; lists may be Python lists or tensors):
          query_ids     list[list[int]]  transcript / typed query words (TextTokenizer.encode, no specials;
                        a <pad>-padded (B, L) tensor also works for the three *_ids keys)
          answer_ids    list[list[int]]  answer words (no specials; <eos> is appended here)
          context_ids   list[list[int]]  optional; previous-turn words (read by fusion.context_routes)
          speech_tokens (B, S, Ds) float optional; + speech_mask (B, S) bool (all-False row = no speech)
          spoken        (B,) bool optional: query was spoken (default: speech_mask.any(-1)); set it
                        for spoken queries given as transcript only
          images        (B, T, 3, H, W) float in [0, 1] (or uint8 (B, T, H, W, 3)) optional:
                        run through STVE.forward_train (sparse keep mask unless dense_vision)
          vision_features (B, N, Dv) optional alternative to images (precomputed STVE tokens)
                        + vision_mask (B, N) bool, vision_rows / vision_cols (B, N) long
                        (default: dense raster grid), vision_importance (B, N) optional
          has_vision    (B,) bool optional (default: any vision input present for the example)
          route         (B,) route ids or names: the cheapest sufficient expert (router target)
          expert_route  (B,) optional: the expert to run (default = route)
          action        (B,) action names or indices into ActionConfig.actions; -100 = no label
          target_uv     (B, 2) float (u, v) in [0, 1]; has_target (B,) bool
          vision_colour / vision_kind (B, N) long optional: per-token labels for the copy head's
                        attribute probe (index into config.copy.colours / kinds + 1, 0 = background,
                        -100 = unlabelled); with vision_features only
        Training options: modal_dropout / input_dropout (default: config.fusion values, only in
        train mode), dense_vision (ignore the STE keep mask: all tokens), full_logits.
        """
        cfg = self.config
        weights = dict(DEFAULT_LOSS_WEIGHTS, **(loss_weights or {}))
        rng = generator or random
        dev = self.device

        def unpad(rows):  # lists of ids or a padded (B, L) tensor: <pad> ids are dropped
            return [[int(t) for t in row if int(t) != PAD_ID] for row in rows]

        query_ids = unpad(batch["query_ids"])
        answer_ids = unpad(batch["answer_ids"])
        B = len(query_ids)
        if len(answer_ids) != B:
            raise InputError(f"batch has {B} query_ids but {len(answer_ids)} answer_ids")
        context_ids = batch.get("context_ids")
        context_ids = unpad(context_ids) if context_ids is not None else [[] for _ in range(B)]
        route = _route_ids(batch["route"], B, "route").to(dev)
        expert = _route_ids(batch.get("expert_route", route), B, "expert_route").to(dev)

        speech = batch.get("speech_tokens")
        if speech is not None:
            speech = torch.as_tensor(speech, dtype=torch.float32, device=dev)
            speech_mask = torch.as_tensor(batch.get("speech_mask", torch.ones(speech.shape[:2], dtype=torch.bool)),
                                          dtype=torch.bool, device=dev)
        else:
            speech = torch.zeros(B, 1, cfg.speech_dim, device=dev)
            speech_mask = torch.zeros(B, 1, dtype=torch.bool, device=dev)
        spoken = torch.as_tensor(batch["spoken"], dtype=torch.bool, device=dev) if "spoken" in batch \
            else speech_mask.any(-1)

        vis_present = "images" in batch or "vision_features" in batch
        has_vision = torch.as_tensor(batch.get("has_vision", [vis_present] * B), dtype=torch.bool, device=dev)

        # -- modal dropout: run some examples through another feasible expert ------------
        md = cfg.fusion.modal_dropout if modal_dropout is None else modal_dropout
        idp = cfg.fusion.input_dropout if input_dropout is None else input_dropout
        if self.training and md > 0:
            feas = feasible_routes(spoken, has_vision)
            expert = expert.clone()
            for b in range(B):
                if rng.random() < md:
                    options = [r for r in range(len(ROUTES)) if bool(feas[b, r]) and r != int(expert[b])]
                    if options:
                        expert[b] = rng.choice(options)
        if self.training and idp > 0:
            speech_mask = speech_mask.clone()
            for b in range(B):
                if bool(speech_mask[b].any()) and query_ids[b] and rng.random() < idp:
                    if rng.random() < 0.5:
                        speech_mask[b] = False
                    else:
                        query_ids[b] = []

        # -- router (query only) ---------------------------------------------------------
        q_ids, q_mask = _pad_ids(query_ids)
        c_ids, c_mask = _pad_ids(context_ids)
        router_logits = self._router_logits(speech, speech_mask, q_ids.to(dev), q_mask.to(dev),
                                            c_ids.to(dev), c_mask.to(dev), has_vision, spoken)

        # -- vision, only for examples whose expert uses it --------------------------------
        vis_ctx, vrows, vcols, vmask = None, None, None, None
        budget = None
        uses_vision = torch.tensor([ROUTES[int(r)] in VISION_ROUTES for r in expert], device=dev) & has_vision
        if bool(uses_vision.any()):
            sel = uses_vision.nonzero().squeeze(1)
            if "images" in batch:
                images = torch.as_tensor(batch["images"], device=dev)[sel]
                feats, r_, c_, m_, imp, budget = _VisionBridge.train_batch(self.vision, images, dense_vision)
            elif "vision_features" in batch:
                feats, r_, c_, m_, imp = (None if t is None else t[sel]
                                          for t in _precomputed_vision(batch, cfg.vision_grid[1], dev))
                if m_ is None:
                    m_ = torch.ones(feats.shape[:2], dtype=torch.bool, device=dev)
            else:
                raise InputError("batch routes need vision but it has neither 'images' nor 'vision_features'")
            if cfg.fusion.trimodal_dense_vision and "vision_features" in batch:
                # the trimodal expert reads every vision token (as in answer())
                tri = (expert[sel] == ROUTE_INDEX["trimodal"])[:, None]  # (S, 1)
                m_ = m_ | tri
            # examples with no kept token still need a valid softmax: keep token 0, zero its features
            empty = ~m_.any(-1)
            if bool(empty.any()):
                m_ = m_.clone()
                m_[empty, 0] = True
            n = feats.shape[1]
            full_feats = torch.zeros(B, n, feats.shape[2], device=dev, dtype=feats.dtype)
            full_feats = full_feats.index_copy(0, sel, feats)
            vrows = torch.zeros(B, n, dtype=torch.long, device=dev).index_copy(0, sel, r_.long())
            vcols = torch.zeros(B, n, dtype=torch.long, device=dev).index_copy(0, sel, c_.long())
            vmask = torch.zeros(B, n, dtype=torch.bool, device=dev)
            vmask[:, 0] = True  # placeholder for examples without vision (their outputs are gated off)
            vmask = vmask.index_copy(0, sel, m_)
            full_imp = None
            if imp is not None:
                full_imp = torch.ones(B, n, device=dev).index_copy(0, sel, imp.float())
            vis_ctx = self.project_vision(full_feats, vrows, vcols, vmask, full_imp)

        # -- sequences ---------------------------------------------------------------------
        seqs, prompt_lens, labels_list = [], [], []
        for b in range(B):
            sp = speech[b][speech_mask[b]]
            prompt = self._prompt_embeddings(int(expert[b]), sp, query_ids[b], context_ids[b])
            ans = answer_ids[b]
            ans_emb = self.decoder.embed_tokens(torch.as_tensor(ans, dtype=torch.long, device=dev)) \
                + self.route_embed.weight[int(expert[b])] if ans else prompt[:0]
            seqs.append(torch.cat([prompt, ans_emb], 0))
            prompt_lens.append(prompt.shape[0])
            lab = torch.full((seqs[-1].shape[0],), IGNORE, dtype=torch.long)
            lab[prompt.shape[0] - 1: prompt.shape[0] - 1 + len(ans) + 1] = torch.tensor(ans + [EOS_ID])
            labels_list.append(lab)
        T = max(s.shape[0] for s in seqs)
        d = cfg.fusion.hidden_size
        x = torch.zeros(B, T, d, device=dev)
        labels = torch.full((B, T), IGNORE, dtype=torch.long, device=dev)
        valid = torch.zeros(B, T, dtype=torch.bool, device=dev)
        for b, s in enumerate(seqs):
            x[b, : s.shape[0]] = s
            labels[b, : s.shape[0]] = labels_list[b]
            valid[b, : s.shape[0]] = True
        causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
        attn_mask = (causal[None] & valid[:, None, :])[:, None]  # (B, 1, T, T)
        positions = torch.arange(T, device=dev)

        h = self.decoder(x, expert, positions=positions, attn_mask=attn_mask, vision=vis_ctx)  # (B, T, d)
        last = torch.tensor(prompt_lens, device=dev) - 1
        h_last = h[torch.arange(B, device=dev), last]  # (B, d)

        # -- losses ------------------------------------------------------------------------
        exp_rank = torch.tensor([ROUTE_RANK[ROUTES[int(r)]] for r in expert], device=dev)
        need_rank = torch.tensor([ROUTE_RANK[ROUTES[int(r)]] for r in route], device=dev)
        sufficient = (exp_rank >= need_rank) & (uses_vision | (exp_rank == 0))
        answer_pos = labels != IGNORE  # (B, T): positions predicting an answer word or <eos>
        if full_logits:
            lm_logits = self.decoder.logits(h)  # (B, T, V)
            ans_logits = lm_logits[answer_pos]  # (M, V)
        else:
            lm_logits = None
            ans_logits = self.decoder.logits(h[answer_pos])  # (M, V): only where there is a label
        ans_labels = labels[answer_pos]  # (M,)
        example = torch.arange(B, device=dev)[:, None].expand(B, T)[answer_pos]  # (M,)
        # action targets as given (u, v in [0, 1]); the action losses and region words read them
        target_uv = torch.as_tensor(batch.get("target_uv", torch.zeros(B, 2)), dtype=torch.float32,
                                    device=dev).reshape(B, 2)
        given_target = torch.as_tensor(batch.get("has_target", [False] * B), dtype=torch.bool, device=dev)
        said_copy_loss = None
        if self.copy_head is not None:
            # copy mixture at the answer positions (log-probs): vision attributes for examples
            # that see vision, words said (query; + context where the expert reads it) for all
            src = [list(query_ids[b]) + (list(context_ids[b]) if cfg.fusion.reads_context(int(expert[b])) else [])
                   for b in range(B)]
            s_ids, s_mask = _pad_ids(src)
            s_ids, s_mask = s_ids.to(dev)[example], s_mask.to(dev)[example]  # (M, L)
            vis_kw = {}
            if vis_ctx is not None:
                vis_kw = {"attrs": vis_ctx.attributes[example],
                          "mask": vmask[example] & uses_vision[example][:, None]}  # (M, N)
                if cfg.copy.region_from_target:
                    # the true target here; answer() uses the action head's (it is trained on these)
                    t_u = torch.where(given_target, target_uv[:, 0], torch.full_like(target_uv[:, 0], float("nan")))
                    vis_kw["target_u"] = t_u[example]  # (M,)
            parts: dict = {}
            ans_logits = self.copy_head.log_probs(h[answer_pos], ans_logits, self.copy_words,
                                                  text_emb=self.decoder.embed_tokens(s_ids), text_ids=s_ids,
                                                  text_mask=s_mask, parts=parts, **vis_kw)
            if cfg.copy.said_word_preference > 0 and "text" in parts:
                # answer words that name a colour/kind the user said: copy them from what was said
                w = self.copy_words
                content = torch.as_tensor(w.colours + w.kinds + w.plurals, dtype=torch.long, device=dev)
                said = ((s_ids == ans_labels[:, None]) & s_mask).any(1)  # (M,)
                p_copy = parts["mix"][:, TEXT_COMPONENT] * parts["text"].gather(1, ans_labels[:, None]).squeeze(1)
                if "said_kind" in parts:  # the kind said in the other number counts as said too
                    said = said | ((s_ids == _other_number(ans_labels, w)[:, None]) & s_mask).any(1)
                    p_copy = p_copy + parts["said_kind"].gather(1, ans_labels[:, None]).squeeze(1)
                sel = said & torch.isin(ans_labels, content) & sufficient[example]
                said_copy_loss = -(p_copy[sel] + 1e-6).log().mean() if bool(sel.any()) else h.sum() * 0.0
                weights.setdefault("said_copy", cfg.copy.said_word_preference)
            if lm_logits is not None:
                lm_logits = lm_logits.clone()
                lm_logits[answer_pos] = ans_logits.to(lm_logits.dtype)
        tok_logp = ans_logits.log_softmax(-1).gather(1, ans_labels[:, None]).squeeze(1)  # (M,)
        answer_logprob = torch.zeros(B, device=dev, dtype=tok_logp.dtype).index_add(0, example, tok_logp)
        zero = h.sum() * 0.0
        lm_sel = sufficient[example]
        lm_loss = -tok_logp[lm_sel].mean() if bool(lm_sel.any()) else zero

        uses_vision_b = uses_vision
        vtok = vis_ctx.tokens if vis_ctx is not None else None
        vattrs = vis_ctx.attributes if (vis_ctx is not None and cfg.action.pointer_attributes) else None
        action_logits, ptr_logits, offsets = self.action_head(h_last, vtok, vmask, vattrs)
        action = batch.get("action", [IGNORE] * B)
        if not isinstance(action, torch.Tensor):
            action = [cfg.action.index(a) if isinstance(a, str) else int(a) for a in action]
        action = torch.as_tensor(action, dtype=torch.long, device=dev)
        action = action.masked_fill(~sufficient, IGNORE)
        has_target = given_target & uses_vision_b & sufficient
        gh, gw = cfg.vision_grid
        if ptr_logits is not None:
            a_loss, p_loss, o_loss = action_losses(action_logits, ptr_logits, offsets, action, target_uv,
                                                   has_target, vrows, vcols, vmask, (gh, gw))
        else:
            a_loss, p_loss, o_loss = action_losses(action_logits, None, None, action, target_uv,
                                                   has_target, None, None, None, (gh, gw))
        # a label the inputs cannot support (e.g. a vision route without a frame) is not learnable
        label_ok = feasible_routes(spoken, has_vision).gather(1, route[:, None]).squeeze(1)
        router_loss = F.cross_entropy(router_logits[label_ok], route[label_ok]) if bool(label_ok.any()) else zero
        suff_logit = self.sufficiency(h_last).gather(1, expert[:, None]).squeeze(1)  # (B,)
        suff_loss = F.binary_cross_entropy_with_logits(suff_logit, sufficient.float())

        losses = {"lm": lm_loss, "action": a_loss, "pointer": p_loss, "offset": o_loss,
                  "router": router_loss, "sufficiency": suff_loss}
        if said_copy_loss is not None:
            losses["said_copy"] = said_copy_loss
        if self.copy_head is not None and "vision_colour" in batch and "vision_features" in batch:
            # on the tokens each example's batch row offers (sparse or dense), whatever its route
            feats_all, rows_all, cols_all, mask_all, _ = _precomputed_vision(batch, cfg.vision_grid[1], dev)
            c_all, k_all = self.copy_head.probe(feats_all, rows_all, cols_all, mask_all)
            losses["attributes"] = self.copy_head.probe.loss_from_logits(
                c_all, k_all, mask_all,
                torch.as_tensor(batch["vision_colour"], dtype=torch.long, device=dev),
                torch.as_tensor(batch["vision_kind"], dtype=torch.long, device=dev))
            if self.copy_head.count is not None and "vision_counts" in batch:
                # object count per kind, read from the probe's kind grid of the tokens offered
                attrs = self.copy_head.attributes_from_logits(c_all, k_all, rows_all, cols_all)
                losses["counts"] = self.copy_head.count_loss(
                    attrs, mask_all if mask_all is not None else torch.ones(attrs.shape[:2], dtype=torch.bool, device=dev),
                    torch.as_tensor(batch["vision_counts"], dtype=torch.long, device=dev))
        if budget is not None:
            losses["vision_budget"] = budget
        outputs = {"lm_logits": lm_logits, "labels": labels.masked_fill(~sufficient[:, None], IGNORE),
                   "answer_logits": ans_logits, "answer_labels": ans_labels, "answer_positions": answer_pos,
                   "answer_logprob": answer_logprob, "action_logits": action_logits,
                   "pointer_logits": ptr_logits, "pointer_offsets": offsets, "vision_rows": vrows,
                   "vision_cols": vcols, "vision_mask": vmask, "router_logits": router_logits,
                   "sufficiency_logits": suff_logit, "sufficient": sufficient, "expert_route": expert,
                   "hidden_last": h_last}
        if self.ctc_hook is not None:
            losses["ctc"] = self.ctc_hook(batch, outputs)
        losses["total"] = sum(weights.get(k, 1.0) * v for k, v in losses.items())
        return outputs, losses

    # ------------------------------------------------------------------------------------
    # inference
    def _check_query(self, query: Query):
        if not isinstance(query, Query):
            raise InputError(f"answer() expects a Query, got {type(query).__name__}")
        speech = query.speech_tokens
        if speech is not None and int(np.prod(tuple(speech.shape))) == 0:
            speech = None  # e.g. Utterance.tokens (0, 0) from a front end without an encoder
        if speech is not None:
            speech = torch.as_tensor(np.asarray(speech) if not isinstance(speech, torch.Tensor) else speech,
                                     dtype=torch.float32)
            if speech.dim() != 2 or speech.shape[1] != self.config.speech_dim:
                raise InputError(f"Query.speech_tokens must be (T', {self.config.speech_dim}), got "
                                 f"{tuple(speech.shape)}")
            if not bool(torch.isfinite(speech).all()):
                raise InputError("Query.speech_tokens contain NaN or Inf")
            if speech.shape[0] == 0:
                speech = None
        if self.tokenizer is None:
            raise InputError("answer() needs the model's TextTokenizer (TriStreamModel(config, tokenizer))")
        q_ids = self.tokenizer.encode(query.text or "")
        c_ids = self.tokenizer.encode(query.context_text or "")
        if speech is None and not q_ids:
            raise InputError("empty query: no speech tokens and no words in Query.text")
        spoken = bool(query.spoken) if query.spoken is not None else speech is not None
        room = self.config.fusion.max_position - self.config.cascade.max_answer_tokens - 4 - len(q_ids) - len(c_ids)
        if room < 1:
            raise InputError(f"query too long: {len(q_ids)} query + {len(c_ids)} context words leave no room "
                             f"in fusion.max_position={self.config.fusion.max_position}")
        if speech is not None and speech.shape[0] > room:
            speech = speech[-room:]  # a long monologue: keep its end (where the question is)
        return speech, q_ids, c_ids, spoken

    @torch.no_grad()
    def route(self, query: Query) -> tuple[str, torch.Tensor]:
        """Router's choice from the query alone -> (route name, probabilities (4,))."""
        speech, q_ids, c_ids, spoken = self._check_query(query)
        return self._route(speech, q_ids, c_ids, query.vision is not None, spoken)

    def _route(self, speech, q_ids, c_ids, has_vision, spoken):
        dev = self.device
        sp = speech[None].to(dev) if speech is not None else torch.zeros(1, 1, self.config.speech_dim, device=dev)
        sm = torch.ones(1, sp.shape[1], dtype=torch.bool, device=dev) if speech is not None \
            else torch.zeros(1, 1, dtype=torch.bool, device=dev)
        qi, qm = _pad_ids([q_ids])
        ci, cm = _pad_ids([c_ids])
        logits = self._router_logits(sp, sm, qi.to(dev), qm.to(dev), ci.to(dev), cm.to(dev),
                                     torch.tensor([has_vision], device=dev), torch.tensor([spoken], device=dev))
        probs = logits.softmax(-1)[0]
        return ROUTES[int(probs.argmax())], probs

    @torch.no_grad()
    def answer(self, query: Query, max_new_tokens: int | None = None) -> Iterator[AnswerEvent]:
        """Stream the answer: RouteChosen, Action, TextDelta (one per word), Done(latencies_ms).

        latencies_ms keys: route, vision (0 if not encoded), prefill (all attempted experts),
        first_token (query known -> first TextDelta; absent if the answer is empty), total."""
        t0 = time.perf_counter()
        cfg = self.config
        speech, q_ids, c_ids, spoken = self._check_query(query)
        has_vision = query.vision is not None
        routed, route_probs = self._route(speech, q_ids, c_ids, has_vision, spoken)
        if not c_ids and cfg.cascade.no_referent_reply and refers_back(query.text or ""):
            # a follow-up with no previous turn: nothing to point at (model/dialogue.py)
            yield from self._fixed_answer(routed, float(route_probs[ROUTE_INDEX[routed]]),
                                          cfg.cascade.no_referent_reply, t0)
            return
        if not has_vision and cfg.cascade.no_camera_reply:
            wanted, probs = self._route(speech, q_ids, c_ids, True, spoken)  # as if a camera were there
            if wanted in VISION_ROUTES:  # the query is about the scene: say so, do not guess or move
                yield from self._fixed_answer(wanted, float(probs[ROUTE_INDEX[wanted]]),
                                              cfg.cascade.no_camera_reply, t0)
                return
        t_route = time.perf_counter()

        vision_state: dict = {}
        vision_ms = 0.0

        def vision_context(route_name: str | None = None) -> tuple[VisionContext, torch.Tensor, torch.Tensor, int]:
            """Projected vision for a vision route; the trimodal expert reads all (dense) tokens
            when fusion.trimodal_dense_vision is set and it is given frames (ready VisionTokens
            are used as they come)."""
            nonlocal vision_ms
            want_dense = (route_name == "trimodal" and cfg.fusion.trimodal_dense_vision) or self.dense_vision
            if route_name is None:
                route_name = vision_state.get("last", "")
            key = "dense" if want_dense else "sparse"
            vision_state["last"] = route_name
            if key not in vision_state:
                tv = time.perf_counter()
                v = vision_state.get("raw")
                if v is None:
                    v = query.vision
                    if callable(v) and not isinstance(v, (torch.Tensor, np.ndarray)):
                        v = v()
                    vision_state["raw"] = v
                if isinstance(v, VisionTokens):
                    pass
                elif "tokens" in vision_state:  # frames already went through STVE for this query
                    v = self.vision.last_dense() if want_dense else vision_state["tokens"]
                else:
                    v = self.encode_vision(v, dense=want_dense)
                feats, rows, cols, mask, imp = _VisionBridge.single(v)
                if feats.shape[-1] != cfg.vision_dim:
                    raise InputError(f"vision features have dim {feats.shape[-1]}, model expects {cfg.vision_dim}")
                if feats.shape[1] == 0:  # no token kept: one zero token so attention is defined
                    feats = torch.zeros(1, 1, cfg.vision_dim)
                    rows = cols = torch.zeros(1, 1, dtype=torch.long)
                    mask, imp = torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1)
                dev = self.device
                ctx = self.project_vision(feats.to(dev), rows.to(dev), cols.to(dev), mask.to(dev), imp.to(dev))
                vision_state[key] = (ctx, rows.to(dev), cols.to(dev), int(feats.shape[1]))
                vision_state.setdefault("tokens", v)  # the encoder is paid once per query
                vision_ms += 1000 * (time.perf_counter() - tv)
            vision_state["key_" + route_name] = key
            return vision_state[key]

        attempts: dict[str, tuple] = {}
        prompt_lens: dict[str, int] = {}

        def evaluate(route_name: str) -> float:
            r = ROUTE_INDEX[route_name]
            vis = vision_context(route_name)[0] if route_name in VISION_ROUTES else None
            x = self._prompt_embeddings(r, speech.to(self.device) if speech is not None else None, q_ids, c_ids)
            cache = KVCache.empty(cfg.fusion.num_layers)
            rt = torch.tensor([r], device=self.device)
            h = self.decoder(x[None], rt, vision=vis, cache=cache)  # (1, T, d)
            conf = float(torch.sigmoid(self.sufficiency(h[0, -1])[r]))
            attempts[route_name] = (h[0, -1], cache, vis)
            prompt_lens[route_name] = x.shape[0]
            return conf

        order = cascade_order(spoken, has_vision)
        start = routed if cfg.cascade.start == "router" else order[0]
        if start not in order:  # e.g. router said "vision" for a spoken query
            start = order[0] if ROUTE_RANK[start] == 0 else order[min(len(order) - 1, ROUTE_RANK[start])]
        trace = run_cascade(order, start, cfg.cascade.escalate_below, evaluate)
        t_prefill = time.perf_counter()
        yield RouteChosen(trace.route, trace.confidence, trace.escalations)

        h_last, cache, vis = attempts[trace.route]
        if vis is not None:
            _, rows, cols, _ = vision_state[vision_state["key_" + trace.route]]
            a_logits, ptr, offs = self.action_head(h_last[None], vis.tokens, vis.mask,
                                                   vis.attributes if cfg.action.pointer_attributes else None)
        else:
            a_logits, ptr, offs = self.action_head(h_last[None])
        probs = a_logits.softmax(-1)[0]
        a_idx = int(probs.argmax())
        name = cfg.action.actions[a_idx]
        said = list(q_ids) + (list(c_ids) if cfg.fusion.reads_context(trace.route) else [])
        target = None
        if ptr is not None and name in cfg.action.target_actions:
            if cfg.copy.target_from_said and said and vis.attributes is not None:
                # choose among the tokens of the object the user named, where the probe finds it
                ids = torch.tensor([said], dtype=torch.long, device=self.device)
                w, found = self.copy_head.said_object(vis.attributes, vis.mask, self.copy_words, ids,
                                                      torch.ones_like(ids, dtype=torch.bool))
                if bool(found[0]):
                    ptr = ptr.masked_fill(w <= 0, float("-inf"))  # (1, N)
            uv = decode_target(ptr, offs, rows, cols, cfg.vision_grid)[0]
            target = (float(uv[0]), float(uv[1]))
        target_u = target[0] if target is not None else None
        logits = self.next_log_probs(h_last[None], vis, said, target_u)[0]
        never = torch.tensor([PAD_ID, BOS_ID, UNK_ID, SEP_ID], device=self.device)  # not speakable
        unseen = self._unseen_object(vis, q_ids, name, int(logits.index_fill(-1, never, float("-inf")).argmax()))
        if unseen is not None:  # the user named an object the probe cannot find: say so, do not move
            yield Action("none", 1.0 - unseen[1], None)  # confidence: 1 - the probe's best match
        else:
            yield Action(name, float(probs[a_idx]), target)

        # -- stream the answer with the KV cache ---------------------------------------------
        r = ROUTE_INDEX[trace.route]
        rt = torch.tensor([r], device=self.device)
        limit = min(max_new_tokens or cfg.cascade.max_answer_tokens,
                    cfg.fusion.max_position - prompt_lens[trace.route])
        words: list[str] = []
        t_first = None
        pending = None  # "a"/"an" held back until the next word fixes its form (article_for)
        n_decoded = 0
        lists = self._list_length(vis, said)
        yes_no = self.copy_words.yes_no if self.copy_words is not None and cfg.copy.existence_min_match else ()
        generated: list[int] = []
        if unseen is not None:
            limit = 0  # the reply is fixed: the not-seen words and the object said, nothing decoded
            for w in unseen[0]:
                words.append(w)
                if t_first is None:
                    t_first = time.perf_counter()
                yield TextDelta(w if len(words) == 1 else " " + w)
            n_decoded = len(words)
        for _ in range(limit):
            if lists is not None:
                logits = lists.constrain(generated, logits)
            tok = int(logits.index_fill(-1, never, float("-inf")).argmax())
            if not generated and tok in yes_no:  # an existence answer: its yes / no from the probe
                tok = self._existence_word(vis, said, tok)
            generated.append(tok)
            if tok == EOS_ID:
                break
            n_decoded += 1
            word = self.tokenizer.id_to_token(tok)
            out = [article_for(word)] if pending is not None else []
            pending = word if word in ARTICLES else None
            out += [] if pending is not None else [word]
            for w in out:
                words.append(w)
                if t_first is None:
                    t_first = time.perf_counter()
                yield TextDelta(w if len(words) == 1 else " " + w)
            x = self.decoder.embed_tokens.weight[tok] + self.route_embed.weight[r]
            h = self.decoder(x.view(1, 1, -1), rt, vision=vis, cache=cache)
            logits = self.next_log_probs(h[0, -1:], vis, said, target_u)[0]
        if pending is not None:  # the answer ended on an article
            words.append(pending)
            if t_first is None:
                t_first = time.perf_counter()
            yield TextDelta(pending if len(words) == 1 else " " + pending)
        t_end = time.perf_counter()

        n_vis = {r: vision_state[vision_state["key_" + r]][3] for r, _ in trace.attempts
                 if "key_" + r in vision_state}
        enc_flops = self._vision_flops(vision_state["tokens"]) if "tokens" in vision_state else 0.0
        trace_costs(cfg, trace, prompt_lens, n_decoded + 1, n_vis, enc_flops)
        lat = {"route": 1000 * (t_route - t0), "vision": vision_ms,
               "prefill": 1000 * (t_prefill - t_route) - vision_ms, "total": 1000 * (t_end - t0)}
        if t_first is not None:
            lat["first_token"] = 1000 * (t_first - t0)
        yield Done(latencies_ms=lat, text=" ".join(words), flops=trace.flops, trace=trace)

    def _fixed_answer(self, route: str, confidence: float, reply: str, t0: float) -> Iterator[AnswerEvent]:
        """A query no expert should answer (a scene query with no camera: cascade.no_camera_reply;
        a follow-up with no previous turn: cascade.no_referent_reply): RouteChosen(the route the
        router chose for it), Action none, `reply` word by word, Done (no expert ran: no trace,
        router cost only)."""
        yield RouteChosen(route, confidence, 0)
        yield Action("none", 1.0, None)
        words = reply.split()
        t_first = time.perf_counter()
        for i, w in enumerate(words):
            yield TextDelta(w if i == 0 else " " + w)
        total = 1000 * (time.perf_counter() - t0)
        yield Done(latencies_ms={"route": total, "vision": 0.0, "prefill": 0.0, "total": total,
                                 "first_token": 1000 * (t_first - t0)}, text=" ".join(words))

    def _existence_word(self, vis: VisionContext | None, said: Sequence[int], tok: int) -> int:
        """`copy.existence_min_match`: the decoder began an answer with "yes" or "no" (`tok`):
        "yes" iff the probe's best match of the object said is at or above the threshold; `tok`
        unchanged without vision or when no kind was said."""
        if vis is None or vis.attributes is None or not said:
            return tok
        w = self.copy_words
        ids = torch.tensor([list(said)], dtype=torch.long, device=self.device)
        with torch.no_grad():
            best, has_kind = self.copy_head.said_best_match(vis.attributes[:1], vis.mask[:1], w, ids,
                                                            torch.ones_like(ids, dtype=torch.bool))
        if not bool(has_kind[0]):
            return tok
        yes, no = w.yes_no
        return yes if float(best[0]) >= self.config.copy.existence_min_match else no

    def _unseen_object(self, vis: VisionContext | None, q_ids: Sequence[int], action: str,
                       first: int) -> tuple[list[str], float] | None:
        """`copy.absent_min_match`: (the reply's words "i can't see a red box", the probe's best
        match) when the query names a kind (with or without a colour), the probe's best match of
        that object is below the threshold, and the answer would act on it or describe it (`action`
        has a target, or the decoder's `first` word is "the"); None otherwise (off, no vision, no
        kind said, the object found, or another kind of answer: counts, yes/no, lists)."""
        cc, w = self.config.copy, self.copy_words
        if not cc.absent_min_match or w is None or vis is None or vis.attributes is None or not q_ids:
            return None
        if action not in self.config.action.target_actions and first != self.tokenizer.token_to_id("the"):
            return None
        ids = torch.tensor([list(q_ids)], dtype=torch.long, device=self.device)
        best, has_kind = self.copy_head.said_best_match(vis.attributes[:1], vis.mask[:1], w, ids,
                                                        torch.ones_like(ids, dtype=torch.bool))
        if not bool(has_kind[0]) or float(best[0]) >= cc.absent_min_match:
            return None
        kinds = [i for i in q_ids if i in w.kinds or i in w.plurals]
        kind = kinds[0] if kinds[0] in w.kinds else w.kinds[w.plurals.index(kinds[0])]  # singular
        colours = [i for i in q_ids if i in w.colours]
        desc = [self.tokenizer.id_to_token(i) for i in colours[:1] + [kind]]
        return list(cc.not_seen) + [article_for(desc[0])] + desc, float(best[0])

    def _list_length(self, vis: VisionContext | None, said: Sequence[int]) -> ListLength | None:
        """The end-of-list control of `copy.list_length_from_count` for this answer (None: off,
        or no vision / count read-out)."""
        cc = self.config.copy
        head = self.copy_head
        if not cc.list_length_from_count or head is None or head.count is None or vis is None \
                or vis.attributes is None:
            return None
        w = self.copy_words

        def n_objects() -> int:
            with torch.no_grad():
                counts = head.count_logits(vis.attributes[:1], vis.mask[:1])[0]  # (K, MAX_COUNT + 1)
            return int(counts.argmax(-1).sum())

        tid = self.tokenizer.token_to_id
        return ListLength(tid, tuple(w.kinds) + tuple(w.plurals), w.regions, [tid(a) for a in ARTICLES], EOS_ID,
                          said, n_objects)

    def _vision_flops(self, tokens: VisionTokens) -> float:
        enc = self.vision
        try:
            return float(enc.estimate_flops(int(getattr(tokens, "tiles_reencoded", 0))))
        except Exception:  # an encoder without accounting: count nothing rather than guess
            return 0.0

    # ------------------------------------------------------------------------------------
    def num_parameters(self, part: str | None = None) -> int:
        mod = self if part is None else getattr(self, part)
        return sum(p.numel() for p in mod.parameters())


def _benchmark(preset: str = "demo", prompt_tokens: int = 40, new_tokens: int = 24, repeats: int = 5) -> dict:
    """Decoder latency with random weights: prefill of `prompt_tokens` and ms per streamed token
    (KV cache), speech route and speech_vision route (17 vision tokens)."""
    import statistics
    from tristream_ros.model.text_tokenizer import SPECIALS

    torch.manual_seed(0)
    cfg = TriStreamConfig.preset(preset)
    cfg.copy.enabled = False  # synthetic vocabulary without the copy words; decoder cost only
    tok = TextTokenizer(list(SPECIALS) + [f"w{i}" for i in range(cfg.fusion.vocab_size - len(SPECIALS))])
    model = TriStreamModel(cfg, tok).eval()
    dec, d = model.decoder, cfg.fusion.hidden_size
    result = {"preset": preset, "params_total": model.num_parameters(),
              "params_decoder": model.num_parameters("decoder"), "threads": torch.get_num_threads()}
    with torch.no_grad():
        for route in ("speech", "speech_vision"):
            r = ROUTE_INDEX[route]
            rt = torch.tensor([r])
            vis = None
            if route in VISION_ROUTES:
                n = 17
                idx = torch.randperm(64)[:n][None]
                vis = model.project_vision(torch.randn(1, n, cfg.vision_dim), idx // 8, idx % 8,
                                           torch.ones(1, n, dtype=torch.bool), None)
            pre, per_tok = [], []
            for _ in range(repeats):
                cache = KVCache.empty(cfg.fusion.num_layers)
                t0 = time.perf_counter()
                h = dec(torch.randn(1, prompt_tokens, d), rt, vision=vis, cache=cache)
                logits = dec.logits(h[0, -1])
                t1 = time.perf_counter()
                for _ in range(new_tokens):
                    x = dec.embed_tokens.weight[int(logits.argmax())] + model.route_embed.weight[r]
                    logits = dec.logits(dec(x.view(1, 1, d), rt, vision=vis, cache=cache)[0, -1])
                t2 = time.perf_counter()
                pre.append(1000 * (t1 - t0))
                per_tok.append(1000 * (t2 - t1) / new_tokens)
            result[route] = {"prefill_ms": round(statistics.median(pre), 2), "prompt_tokens": prompt_tokens,
                             "ms_per_token": round(statistics.median(per_tok), 2),
                             "first_token_ms": round(statistics.median(pre) + statistics.median(per_tok), 2)}
    return result


if __name__ == "__main__":
    import json
    import sys
    torch.set_num_threads(1)
    for name in sys.argv[1:] or ["tiny", "demo"]:
        print(json.dumps(_benchmark(name)))
