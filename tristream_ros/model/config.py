"""Configuration of the whole TriStream model and its presets.

`TriStreamConfig` composes the configs of each part:

    vision   VisionConfig   (model/vision/config.py)  STVE + MobileViT backbone
    speech   SpeechConfig   (model/speech/config.py)  streaming encoder + k-frame adapter + CTC
    fusion   FusionConfig   Qwen2-style decoder, cross-attention / bilateral layout, experts, router
    cascade  CascadeConfig  cheapest-sufficient-first escalation, answer length
    action   ActionConfig   action vocabulary and pointer head

Presets (`TriStreamConfig.preset(name)`):
    tiny       unit tests (milliseconds per step)
    demo       the model we train on 2 CPU cores and ship (first text token well under 100 ms)
    omni-0.5b  Qwen2.5-0.5B-shaped decoder, LLaMA-Omni2-shaped speech path, MobileViT-small
               widths: random weights, used to measure real-size cost

`to_dict` / `from_dict` give the JSON saved beside checkpoints.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.vision.config import VisionConfig

# Experts, cheapest first (docs/design.md). Index = expert id everywhere in the model.
ROUTES = ("speech", "vision", "speech_vision", "trimodal")
ROUTE_INDEX = {r: i for i, r in enumerate(ROUTES)}
# Modal "rank": an expert can answer a query whose needed route has rank <= its own.
# speech: query only; vision / speech_vision: + scene; trimodal: + scene + text context.
ROUTE_RANK = {"speech": 0, "vision": 1, "speech_vision": 1, "trimodal": 2}
VISION_ROUTES = frozenset({"vision", "speech_vision", "trimodal"})

ACTIONS = ("stop", "forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at", "none")
TARGET_ACTIONS = ("navigate_to", "look_at")

CONFIG_FORMAT = "tristream-config-v1"


def _check(cond: bool, cls: str, name: str, value, why: str) -> None:
    if not cond:
        raise InputError(f"{cls}.{name}={value!r}: {why}")


@dataclass
class FusionConfig:
    """The fusion decoder (Qwen2 layout: RMSNorm, RoPE, grouped-query attention, SwiGLU).

    vocab_size: LM vocabulary (word-level TextTokenizer for our models; 151936 for Qwen2.5).
    hidden_size / num_layers / num_heads / num_kv_heads / intermediate_size: decoder shape;
        num_heads must be a multiple of num_kv_heads (GQA).
    max_position: longest prompt + answer (tokens); RoPE has no table, this bounds the KV cache.
    rope_theta: RoPE base (Qwen2.5: 1e6). rms_norm_eps: RMSNorm epsilon.
    qkv_bias: Qwen2 puts biases on q/k/v projections (not on o).
    tie_embeddings: LM head shares the input embedding matrix (Qwen2.5-0.5B does).
    cross_attn_fraction: fraction of layers with gated cross-attention to vision tokens on the
        vision / speech_vision routes (~12%: 1 of 8 layers).
    trimodal_cross_attn_fraction: fraction on the trimodal route (a superset of the above).
        Layers without cross-attention use the cheap "bilateral" connection on vision routes:
        a gated projection of importance-pooled vision added to the residual stream.
    expert_kind: "adapter" (per-route low-rank SwiGLU adapter beside the shared FFN) or "ffn"
        (a full per-route FFN replacing the shared one). expert_rank: adapter width.
    router_hidden: width of the query-only router MLP.
    pointer_dim: width of the action head's pointer over vision tokens.
    dropout: residual dropout in training.
    modal_dropout: training only; probability that an example is run through another
        (random, feasible) expert than its label, i.e. with modalities dropped. Insufficient
        experts then learn low confidence instead of an answer.
    input_dropout: training only; probability of dropping either the speech tokens or the
        transcript text of a spoken query (never both), so each alone suffices.
    route_exit_fractions: depth-cascaded experts: the fraction of the decoder layers each route
        runs, in ROUTES order (speech, vision, speech_vision, trimodal); `exits` gives the layer
        counts (round(fraction * num_layers), >= 1; a vision route always reaches its first
        cross-attention layer). A route stops after its exit layer; its own final norm, the
        shared LM head, the action head and the sufficiency head read that hidden state.
        trimodal must be 1.0. None (configs written before this option) = every route runs the
        full depth, exactly as before.
    trimodal_dense_vision: the trimodal expert attends to all vision tokens (the dense grid)
        instead of the sparse STVE budget (False in configs written before this option).
    context_routes: experts whose prompt includes the previous turn (the text context of a
        follow-up, "where is the red ball <sep> the red ball is on the left"). The trimodal
        expert always does; with "vision" / "speech_vision" here a follow-up is answered by the
        cheapest expert with the encoders it needs (`router.cheapest_route`) and the trimodal
        expert is the cascade's last resort. ("trimodal",) in configs written before this option.
    """

    vocab_size: int = 1024
    hidden_size: int = 256
    num_layers: int = 8
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 512
    max_position: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    qkv_bias: bool = True
    tie_embeddings: bool = True
    cross_attn_fraction: float = 0.125
    trimodal_cross_attn_fraction: float = 0.25
    expert_kind: str = "adapter"
    expert_rank: int = 32
    router_hidden: int = 128
    pointer_dim: int = 64
    dropout: float = 0.0
    modal_dropout: float = 0.0
    input_dropout: float = 0.0
    route_exit_fractions: tuple[float, ...] | None = None
    trimodal_dense_vision: bool = False
    context_routes: tuple[str, ...] = ("trimodal",)

    def __post_init__(self) -> None:
        c = "FusionConfig"
        self.context_routes = tuple(str(r) for r in self.context_routes)
        _check(set(self.context_routes) <= set(ROUTES) and "trimodal" in self.context_routes, c,
               "context_routes", self.context_routes, f"must be routes of {ROUTES} including 'trimodal'")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads",
                     "intermediate_size", "max_position", "expert_rank", "router_hidden", "pointer_dim"):
            v = getattr(self, name)
            _check(isinstance(v, int) and v >= 1, c, name, v, "must be a positive int")
        _check(self.vocab_size >= 5, c, "vocab_size", self.vocab_size, "needs room for the 5 specials")
        _check(self.hidden_size % self.num_heads == 0, c, "hidden_size", self.hidden_size,
               f"not divisible by num_heads={self.num_heads}")
        _check(self.head_dim % 2 == 0, c, "num_heads", self.num_heads,
               f"head size {self.head_dim} must be even for RoPE")
        _check(self.num_heads % self.num_kv_heads == 0, c, "num_kv_heads", self.num_kv_heads,
               f"must divide num_heads={self.num_heads}")
        for name in ("cross_attn_fraction", "trimodal_cross_attn_fraction"):
            v = getattr(self, name)
            _check(0.0 < v <= 1.0, c, name, v, "must be in (0, 1]")
        _check(self.trimodal_cross_attn_fraction >= self.cross_attn_fraction, c,
               "trimodal_cross_attn_fraction", self.trimodal_cross_attn_fraction,
               f"must be >= cross_attn_fraction={self.cross_attn_fraction}")
        _check(self.expert_kind in ("adapter", "ffn"), c, "expert_kind", self.expert_kind,
               "must be 'adapter' or 'ffn'")
        for name in ("dropout", "modal_dropout", "input_dropout"):
            v = getattr(self, name)
            _check(0.0 <= v < 1.0, c, name, v, "must be in [0, 1)")
        _check(self.rope_theta > 0, c, "rope_theta", self.rope_theta, "must be positive")
        if self.route_exit_fractions is not None:
            fr = tuple(float(x) for x in self.route_exit_fractions)
            self.route_exit_fractions = fr
            _check(len(fr) == len(ROUTES) and all(0.0 < x <= 1.0 for x in fr), c, "route_exit_fractions", fr,
                   f"needs {len(ROUTES)} fractions in (0, 1] (order {ROUTES})")
            _check(fr[ROUTE_INDEX["trimodal"]] == 1.0, c, "route_exit_fractions", fr,
                   "the trimodal expert must run the full depth (1.0)")
            for r in ("vision", "speech_vision"):
                _check(fr[ROUTE_INDEX["speech"]] <= fr[ROUTE_INDEX[r]], c, "route_exit_fractions", fr,
                       f"the speech expert must not be deeper than the {r} expert")

    def exit_layer(self, route: str | int) -> int:
        """Decoder layers run by `route` (name or ROUTES index): round(fraction * num_layers), at
        least 1; a vision route is deepened to include its first cross-attention layer."""
        r = ROUTE_INDEX[route] if isinstance(route, str) else int(route)
        n = self.num_layers
        if self.route_exit_fractions is None or ROUTES[r] == "trimodal":
            return n
        depth = max(1, min(n, math.floor(self.route_exit_fractions[r] * n + 0.5)))
        if ROUTES[r] in ("vision", "speech_vision"):
            depth = max(depth, min(self.cross_attn_layers) + 1)
        return depth

    def reads_context(self, route: str | int) -> bool:
        """Whether `route` (name or ROUTES index) reads the previous turn (`context_routes`)."""
        return (ROUTES[route] if isinstance(route, int) else route) in self.context_routes

    @property
    def exits(self) -> tuple[int, ...]:
        """Layers run per route, ROUTES order (all num_layers without route_exit_fractions)."""
        return tuple(self.exit_layer(r) for r in range(len(ROUTES)))

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def cross_attn_layers(self) -> tuple[int, ...]:
        """Layers with cross-attention on the vision / speech_vision routes (subset of trimodal)."""
        tri = self.trimodal_cross_attn_layers
        k = min(len(tri), max(1, round(self.cross_attn_fraction * self.num_layers)))
        return tuple(sorted({tri[int(j * len(tri) / k)] for j in range(k)}))

    @property
    def trimodal_cross_attn_layers(self) -> tuple[int, ...]:
        """Evenly spaced layers with cross-attention on the trimodal route."""
        n = self.num_layers
        k = max(1, round(self.trimodal_cross_attn_fraction * n))
        return tuple(sorted({min(n - 1, int((j + 0.5) * n / k)) for j in range(k)}))


@dataclass
class CascadeConfig:
    """Cheapest-sufficient-first cascade over the experts.

    escalate_below: an expert whose confidence (sufficiency head) is below this hands the
        query to the next expert in the cascade order.
    start: "router" starts at the router's choice; "cheapest" always starts at the cheapest
        feasible expert (more escalations, never skips a cheap expert).
    max_answer_tokens: longest streamed answer (tokens, <eos> excluded).
    no_camera_reply: with no camera (Query.vision None), a query the router would send to a
        vision expert if there were one ("is there a cone", "go to the red ball") is answered
        with this text and action "none" instead of by the speech expert, which never learnt to
        answer about a scene it cannot see (it made up motions: "is there a cone" -> "backing
        up"). "" turns this off.
    no_referent_reply: a follow-up that points back at the previous turn ("go to it", "what
        colour is that one": model/dialogue.refers_back) with no previous turn given
        (Query.context_text empty) is answered with this text and action "none": there is
        nothing it can mean, and the experts, trained with context on every follow-up, guessed
        (real speech heard as "go to it" made the robot back up). "" turns this off.
    """

    escalate_below: float = 0.5
    start: str = "router"
    max_answer_tokens: int = 32
    no_camera_reply: str = "i cannot see anything right now"
    no_referent_reply: str = "which one do you mean"

    def __post_init__(self) -> None:
        _check(0.0 <= self.escalate_below <= 1.0, "CascadeConfig", "escalate_below",
               self.escalate_below, "must be in [0, 1]")
        _check(self.start in ("router", "cheapest"), "CascadeConfig", "start", self.start,
               "must be 'router' or 'cheapest'")
        _check(isinstance(self.max_answer_tokens, int) and self.max_answer_tokens >= 1,
               "CascadeConfig", "max_answer_tokens", self.max_answer_tokens, "must be a positive int")
        _check(isinstance(self.no_camera_reply, str), "CascadeConfig", "no_camera_reply", self.no_camera_reply,
               "must be a string")
        _check(isinstance(self.no_referent_reply, str), "CascadeConfig", "no_referent_reply",
               self.no_referent_reply, "must be a string")


@dataclass
class ActionConfig:
    """Action head: a class over `actions` and, for `target_actions`, a pointer into the
    vision token grid giving a normalised (u, v) image point (u right, v down, in [0, 1])."""

    actions: tuple[str, ...] = ACTIONS
    target_actions: tuple[str, ...] = TARGET_ACTIONS
    # the target pointer's keys also read the copy head's per-token attributes (colour / kind
    # probabilities, grid position; needs copy.enabled): "look at the cup" points where the
    # probe sees a cup. Off (and not in the demo preset): over two seeds each, session 5 found
    # no reliable effect on target error (0.124 and 0.210 with it, 0.209 and 0.198 without;
    # docs/training.md, variants C, D, C1, D1)
    pointer_attributes: bool = False

    def __post_init__(self) -> None:
        self.actions = tuple(self.actions)
        self.target_actions = tuple(self.target_actions)
        _check(len(self.actions) >= 2 and len(set(self.actions)) == len(self.actions),
               "ActionConfig", "actions", self.actions, "needs >= 2 distinct names")
        missing = [a for a in self.target_actions if a not in self.actions]
        _check(not missing, "ActionConfig", "target_actions", self.target_actions,
               f"{missing} are not in actions")

    def index(self, name: str) -> int:
        try:
            return self.actions.index(name)
        except ValueError:
            raise InputError(f"unknown action {name!r}; expected one of {self.actions}") from None


@dataclass
class CopyConfig:
    """Attribute copy head (model/heads/copy_head.py): answers copy colour / kind / region words
    from the vision token they point at. Off by default (configs written before it load
    unchanged); the demo preset turns it on. The word lists are the copyable vocabulary: each
    word must be in the model's TextTokenizer; plurals pair with kinds, regions are
    (left, middle, right) thirds of the image."""

    enabled: bool = False
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow", "orange", "purple", "white")
    kinds: tuple[str, ...] = ("ball", "box", "cup", "cone", "bottle")
    plurals: tuple[str, ...] = ("balls", "boxes", "cups", "cones", "bottles")
    regions: tuple[str, ...] = ("left", "middle", "right")
    region_prepositions: tuple[str, ...] = ("on", "in", "on")  # the word before each region word
    pointer_dim: int = 64
    # train the probe's kind classifier as a product of experts with a colour -> kind bias table
    # (training only): the table absorbs "no ball is ever blue here", so the kind classifier
    # reads shape and still names an unseen colour/kind pair (off: configs written before it)
    kind_debias: bool = False
    # count read-out: P(count | kind) from the probe's kind grid; answers copy the number word and
    # its verb ("there is one cup") from it (off: configs written before it)
    count: bool = False
    numbers: tuple[str, ...] = ("no", "one", "two", "three")  # counts 0..3 as words
    # region words ("on the left") of an answer whose action has a target (look_at / navigate_to)
    # are read from that target's position (the action head's pointer, trained on targets)
    # instead of the copy pointer's (off: configs written before it). Session 5: with the copy
    # pointer the mixture had learnt to leave region words to the LM, which never said "left"
    region_from_target: bool = False
    # training only: weight of a loss that makes the mixture copy a colour / kind word the user
    # said (text pointer) rather than read it off the camera when the answer repeats it ("what
    # colour is the ball" -> "the ball is ..."): both are right on training scenes, only the
    # copy is right when the camera misreads an unseen colour/kind pair (0: off)
    said_word_preference: float = 0.0
    count_verbs: tuple[str, ...] = ("is", "are")  # the verb before a count of one / of others
    # existence read-out: "is there a white cone" -> P(yes) = the best match of the kind (and
    # colour) said among the probe's token attributes; answers copy "yes" / "no" from it
    # (off: configs written before it)
    existence: bool = False
    yes_no: tuple[str, ...] = ("yes", "no")
    # said-kind copy: answers name the kind the user said in either number ("count the cones" ->
    # "there is one cone"); the text pointer copies only the exact word (off: configs written before it)
    said_kind: bool = False
    # the copy pointer of an answer about an object the user named ("where is the red ball", "what
    # colour is it" after naming one) points at where the probe finds that object (tokens matching
    # the kind and colour said): its colour and region are read there; an action target, when
    # there is one, still sets the region (off: configs written before it). Session 6: "where is
    # it" follow-ups named the wrong side 0.55 of the time
    pointer_from_said: bool = False
    # the action target too: when the user named an object (query or the previous turn) and the
    # probe finds it, the action head's target pointer chooses among that object's tokens only
    # (the offset head then places the target inside it); else the learnt pointer alone (off:
    # configs written before it). Session 8: "face it" after "tell me the colour of the ball"
    # pointed at a cone (target error 0.35)
    target_from_said: bool = False
    # answers that list what is seen ("i see a red cone and a blue cup") get as many items as the
    # count read-out finds objects in view (model/heads/list_length.py; needs `count`; off:
    # configs written before it). Session 8: 39 of 59 list answers had the wrong length
    list_length_from_count: bool = False
    # the yes / no of an existence answer ("is there a white cone" -> "yes ..." / "no ..."): when
    # the decoder's first word is one of them and the user named a kind the probe can look for,
    # it is "yes" iff the probe's best match of the object said is at least this (0: off, the
    # mixture decides; configs written before it). Chosen on val by training/calibrate_existence.py:
    # the mixture weighs P(yes) = best match against the LM, i.e. answers "yes" only above about
    # 0.5, while objects of held-out colour/kind pairs are matched at 0.08-0.35 (session 12)
    existence_min_match: float = 0.0
    # an object the user named that the probe cannot find: when the query itself (not the previous
    # turn) names a kind, the probe's best match of the object said is below this, and the answer
    # would act on or describe that object (an action with a target, or an answer beginning "the"),
    # the reply is `not_seen` + the object said ("i can't see a red box") and the action is none
    # (0: off; configs written before it). Chosen on val by training/calibrate_existence.py.
    # Session 13: the decoder never said "i can't see" on the test splits (0 of 33 absent objects,
    # held-out phrasings), it drove to or described objects that were not there
    absent_min_match: float = 0.0
    not_seen: tuple[str, ...] = ("i", "can't", "see")
    # the probe's kind classifier reads shape only: each token through a projection that removes
    # the vision colour branch's output subspace (set and the classifier re-fitted by
    # training/kind_readout.py after phase 3; off: configs written before it). Session 15: every
    # cone has a white band, so white pixels had come to mean "cone" and white balls (a held-out
    # pair) were read as cones (kind right on 0.18 of their tokens on val)
    kind_shape_only: bool = False

    def __post_init__(self) -> None:
        for name in ("existence_min_match", "absent_min_match"):
            _check(0.0 <= float(getattr(self, name)) <= 1.0, "CopyConfig", name, getattr(self, name),
                   "must be in [0, 1] (0: off)")
        for name in ("colours", "kinds", "plurals", "regions", "region_prepositions", "numbers", "count_verbs",
                     "yes_no", "not_seen"):
            setattr(self, name, tuple(getattr(self, name)))
        _check(len(self.plurals) == len(self.kinds), "CopyConfig", "plurals", self.plurals,
               f"needs one plural per kind ({len(self.kinds)})")
        _check(len(self.regions) == 3, "CopyConfig", "regions", self.regions, "needs (left, middle, right)")
        _check(len(self.region_prepositions) in (0, 3), "CopyConfig", "region_prepositions",
               self.region_prepositions, "needs one word per region, or none")
        _check(len(self.colours) >= 1 and len(self.kinds) >= 1, "CopyConfig", "colours/kinds",
               (self.colours, self.kinds), "must not be empty")
        _check(len(self.numbers) == 4, "CopyConfig", "numbers", self.numbers, "needs the words for counts 0..3")
        _check(len(self.count_verbs) == 2, "CopyConfig", "count_verbs", self.count_verbs, "needs (one, other)")
        _check(len(self.yes_no) == 2, "CopyConfig", "yes_no", self.yes_no, "needs (yes, no)")
        _check(isinstance(self.pointer_dim, int) and self.pointer_dim >= 1, "CopyConfig", "pointer_dim",
               self.pointer_dim, "must be a positive int")


@dataclass
class TriStreamConfig:
    """The whole model. `speech.llm_dim` (the adapter's output width) is what the decoder's
    speech projector consumes; `vision.token_dim` what its vision projector consumes."""

    name: str = "custom"
    vision: VisionConfig = field(default_factory=VisionConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)
    action: ActionConfig = field(default_factory=ActionConfig)
    copy: CopyConfig = field(default_factory=CopyConfig)

    @property
    def vision_dim(self) -> int:
        return int(self.vision.token_dim)

    @property
    def speech_dim(self) -> int:
        return int(self.speech.llm_dim)

    @property
    def vision_grid(self) -> tuple[int, int]:
        h, w = self.vision.grid_hw
        return int(h), int(w)

    # -- presets --------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, vocab_size: int | None = None) -> "TriStreamConfig":
        """`tiny`, `demo` or `omni-0.5b`; `vocab_size` overrides the LM vocabulary (set it to
        len(TextTokenizer) for word-level models)."""
        if name not in _FUSION_PRESETS:
            raise InputError(f"unknown model preset {name!r}; expected one of {sorted(_FUSION_PRESETS)}")
        fusion = dataclasses.replace(_FUSION_PRESETS[name])
        if vocab_size is not None:
            fusion = dataclasses.replace(fusion, vocab_size=vocab_size)
        return cls(name=name,
                   vision=VisionConfig.preset(name),
                   speech=SpeechConfig.preset(name, llm_dim=fusion.hidden_size),
                   fusion=fusion,
                   cascade=dataclasses.replace(_CASCADE_PRESETS[name]),
                   action=ActionConfig(),
                   copy=CopyConfig(enabled=name == "demo", kind_debias=name == "demo", count=name == "demo",
                                   region_from_target=name == "demo",
                                   said_word_preference=0.3 if name == "demo" else 0.0,
                                   existence=name == "demo", said_kind=name == "demo",
                                   pointer_from_said=name == "demo", target_from_said=name == "demo",
                                   list_length_from_count=name == "demo", kind_shape_only=name == "demo"))

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        def plain(obj) -> dict:
            return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
                    for f in dataclasses.fields(obj)}
        return {"format": CONFIG_FORMAT, "name": self.name,
                "vision": self.vision.to_dict(), "speech": self.speech.to_dict(),
                "fusion": plain(self.fusion), "cascade": plain(self.cascade),
                "action": plain(self.action), "copy": plain(self.copy)}

    @classmethod
    def from_dict(cls, data: dict) -> "TriStreamConfig":
        if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ModelFileError(f"not a TriStream config (format={got!r}, expected {CONFIG_FORMAT!r})")

        def build(kind, key):
            part = dict(data.get(key, {}))
            unknown = sorted(set(part) - {f.name for f in dataclasses.fields(kind)})
            if unknown:
                raise ModelFileError(f"config section {key!r} has unknown fields {unknown}")
            return kind(**part)

        try:
            return cls(name=data.get("name", "custom"),
                       vision=VisionConfig.from_dict(data["vision"]),
                       speech=SpeechConfig.from_dict(data["speech"]),
                       fusion=build(FusionConfig, "fusion"),
                       cascade=build(CascadeConfig, "cascade"),
                       action=build(ActionConfig, "action"),
                       copy=build(CopyConfig, "copy"))
        except KeyError as exc:
            raise ModelFileError(f"config is missing section {exc.args[0]!r}") from None


# Depth-cascaded experts (route_exit_fractions, ROUTES order): speech 1/8 of the layers, vision and
# speech_vision 3/8 (containing cross-attention layer 2), trimodal the full depth with
# cross-attention in 2x the layers over all (dense) vision tokens. Layers run: demo (1, 3, 3, 8),
# omni-0.5b (3, 9, 9, 24). `tiny` keeps full depth on every route (the node / graph tests rely on
# its untrained full-depth behaviour); tests of the exits set route_exit_fractions on it (1, 3, 3, 4).
# Follow-ups: the vision experts read the previous turn too (_CONTEXT), so "go to it" is answered
# at 3/8 depth; the full-depth trimodal expert is where the cascade escalates to.
_EXITS = (0.125, 0.375, 0.375, 1.0)
_CONTEXT = ("vision", "speech_vision", "trimodal")
DEFAULT_EXIT_FRACTIONS = _EXITS
_FUSION_PRESETS = {
    "tiny": FusionConfig(vocab_size=64, hidden_size=64, num_layers=4, num_heads=4, num_kv_heads=2,
                         intermediate_size=128, max_position=256, expert_rank=8, router_hidden=32,
                         pointer_dim=32),
    "demo": FusionConfig(vocab_size=1024, hidden_size=256, num_layers=8, num_heads=4, num_kv_heads=2,
                         intermediate_size=512, max_position=512, expert_rank=32, router_hidden=128,
                         pointer_dim=64, route_exit_fractions=_EXITS, trimodal_dense_vision=True,
                         context_routes=_CONTEXT),
    # Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads, SwiGLU 4864, vocab 151936, tied.
    "omni-0.5b": FusionConfig(vocab_size=151936, hidden_size=896, num_layers=24, num_heads=14,
                              num_kv_heads=2, intermediate_size=4864, max_position=32768,
                              rope_theta=1_000_000.0, rms_norm_eps=1e-6, qkv_bias=True,
                              tie_embeddings=True, expert_rank=64, router_hidden=256, pointer_dim=128,
                              route_exit_fractions=_EXITS, trimodal_dense_vision=True,
                              context_routes=_CONTEXT),
}
_CASCADE_PRESETS = {
    "tiny": CascadeConfig(max_answer_tokens=12),
    "demo": CascadeConfig(max_answer_tokens=24),
    "omni-0.5b": CascadeConfig(max_answer_tokens=64),
}
PRESET_NAMES = tuple(_FUSION_PRESETS)


def dense_tokens_budget(config: TriStreamConfig) -> int:
    """Largest number of vision tokens a query can bring (the dense grid)."""
    h, w = config.vision_grid
    return h * w


__all__ = ["ROUTES", "ROUTE_INDEX", "ROUTE_RANK", "VISION_ROUTES", "ACTIONS", "TARGET_ACTIONS",
           "FusionConfig", "CascadeConfig", "ActionConfig", "CopyConfig", "TriStreamConfig", "PRESET_NAMES",
           "dense_tokens_budget", "DEFAULT_EXIT_FRACTIONS"]
