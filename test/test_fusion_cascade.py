"""Router feasibility, cascade escalation and per-route FLOP accounting."""
import dataclasses
import pytest
import torch

from tristream_ros.model.config import ROUTES, TriStreamConfig
from tristream_ros.model.fusion.cascade import flops_reduction, route_cost, run_cascade
from tristream_ros.model.fusion.router import QueryRouter, cascade_order, feasible_routes

torch.set_num_threads(1)


def test_feasibility_and_order():
    f = feasible_routes(torch.tensor([True, False, True]), torch.tensor([False, True, True]))
    assert f.tolist() == [[True, False, False, False], [True, True, False, True], [True, True, True, True]]
    assert cascade_order(True, False) == ("speech",)
    assert cascade_order(True, True) == ("speech", "speech_vision", "trimodal")
    assert cascade_order(False, True) == ("speech", "vision", "trimodal")


def test_router_masks_routes_without_inputs():
    r = QueryRouter(speech_dim=8, text_dim=16, hidden=16)
    B = 2
    logits = r(torch.randn(B, 3, 8), torch.tensor([[True] * 3, [False] * 3]), torch.randn(B, 4, 16),
               torch.ones(B, 4, dtype=torch.bool), torch.zeros(B, 1, 16), torch.zeros(B, 1, dtype=torch.bool),
               torch.tensor([False, True]))
    probs = logits.softmax(-1)
    assert probs[0, 1:].sum() < 1e-6  # no camera: only the speech expert
    assert probs[1, ROUTES.index("speech_vision")] < 1e-6  # no speech: no speech_vision


def test_cascade_escalates_until_confident():
    confs = {"speech": 0.2, "speech_vision": 0.4, "trimodal": 0.9}
    calls = []
    trace = run_cascade(("speech", "speech_vision", "trimodal"), "speech", 0.5,
                        lambda r: calls.append(r) or confs[r])
    assert trace.route == "trimodal" and trace.escalations == 2 and calls == list(confs)
    trace = run_cascade(("speech", "speech_vision", "trimodal"), "speech_vision", 0.3, lambda r: confs[r])
    assert trace.route == "speech_vision" and trace.escalations == 0


def test_route_costs_order_and_reduction():
    cfg = TriStreamConfig.preset("demo")
    enc = 50e6
    costs = {r: route_cost(cfg, r, prompt_tokens=30, answer_tokens=5, vision_tokens=17,
                           vision_encoder_flops=enc).total for r in ROUTES}
    assert costs["speech"] < costs["speech_vision"] < costs["trimodal"]
    assert route_cost(cfg, "speech", 30, 5, 17, enc).vision_encoder == 0.0
    # more vision tokens cost more on vision routes only
    assert route_cost(cfg, "trimodal", 30, 5, 64, enc).total > costs["trimodal"]
    assert route_cost(cfg, "speech", 30, 5, 64, enc).total == costs["speech"]
    assert flops_reduction([costs["speech"]] * 3, [costs["trimodal"]] * 3) > 0
    with pytest.raises(ValueError):
        route_cost(cfg, "smell", 1, 1)


def test_prompt_length_matches_model_prompt():
    from tristream_ros.model.fusion.cascade import prompt_length
    from tristream_ros.model.tristream_model import TriStreamModel
    cfg = TriStreamConfig.preset("tiny")
    m = TriStreamModel(cfg)
    for route in ROUTES:
        x = m._prompt_embeddings(ROUTES.index(route), torch.zeros(7, cfg.speech_dim), [5, 6, 7], [8, 9])
        assert x.shape[0] == prompt_length(route, 7, 3, 2)
    # the vision experts read the previous turn too when the config says so (the demo presets)
    ctx = ("vision", "speech_vision", "trimodal")
    m = TriStreamModel(dataclasses.replace(cfg, fusion=dataclasses.replace(cfg.fusion, context_routes=ctx)))
    for route in ROUTES:
        x = m._prompt_embeddings(ROUTES.index(route), torch.zeros(7, cfg.speech_dim), [5, 6, 7], [8, 9])
        assert x.shape[0] == prompt_length(route, 7, 3, 2, ctx)
        assert x.shape[0] == 7 + 3 + 4 + (2 if route != "speech" else 0)


def test_cheapest_route_follows_the_experts_that_read_the_previous_turn():
    from tristream_ros.model.config import FusionConfig
    from tristream_ros.model.fusion.router import cheapest_route
    old, new = FusionConfig(), TriStreamConfig.preset("demo").fusion
    assert old.context_routes == ("trimodal",) and new.reads_context("speech_vision")
    for f in (old, new):
        assert cheapest_route(f, spoken=True, needs_vision=False, needs_context=False) == "speech"
        assert cheapest_route(f, spoken=True, needs_vision=True, needs_context=False) == "speech_vision"
        assert cheapest_route(f, spoken=False, needs_vision=True, needs_context=False) == "vision"
    assert cheapest_route(old, spoken=True, needs_vision=True, needs_context=True) == "trimodal"
    assert cheapest_route(old, spoken=False, needs_vision=True, needs_context=True) == "trimodal"
    assert cheapest_route(new, spoken=True, needs_vision=True, needs_context=True) == "speech_vision"
    assert cheapest_route(new, spoken=False, needs_vision=True, needs_context=True) == "vision"
    # a follow-up that needs no scene: the speech expert does not read the previous turn
    assert cheapest_route(new, spoken=True, needs_vision=False, needs_context=True) == "speech_vision"


def test_context_routes_are_checked():
    from tristream_ros.errors import InputError
    from tristream_ros.model.config import FusionConfig
    with pytest.raises(InputError, match="context_routes"):
        FusionConfig(context_routes=("speech_vision",))  # the trimodal expert always reads it
    with pytest.raises(InputError, match="context_routes"):
        FusionConfig(context_routes=("trimodal", "smell"))
    f = TriStreamConfig.from_dict(TriStreamConfig.preset("demo").to_dict()).fusion  # JSON lists -> tuple
    assert f.context_routes == ("vision", "speech_vision", "trimodal")
