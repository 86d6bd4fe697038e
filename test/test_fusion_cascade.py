"""Router feasibility, cascade escalation and per-route FLOP accounting."""
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
