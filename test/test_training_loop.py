"""The training loop: schedule, resumable state (safetensors), loss curves."""
import json

import pytest
import torch
from torch import nn

from tristream_ros.errors import InputError
from tristream_ros.training.loop import LoopConfig, TrainLoop, lr_at, plot_losses

torch.set_num_threads(1)


def test_lr_schedule_warmup_then_cosine():
    cfg = LoopConfig(steps=100, lr=1e-3, warmup=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    lrs = [lr_at(s, cfg) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_bad_config_names_the_value():
    with pytest.raises(InputError, match="steps=0"):
        LoopConfig(steps=0)


def _run(tmp, steps, resume_from_break=None):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    loop = TrainLoop(model.parameters(), LoopConfig(steps=steps, lr=1e-2, warmup=2, save_every=3, log_every=1),
                     tmp, "t", progress=False)
    resumed = loop.start({"m": model}, resume=True)
    for step in loop:
        if resume_from_break is not None and step == resume_from_break:
            return model, loop, resumed
        g = torch.Generator().manual_seed(step)
        idx = torch.randint(0, 32, (8,), generator=g)
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        loop.update({"total": loss, "mse": loss.detach()})
    loop.finish({"m": model})
    return model, loop, resumed


def test_resume_continues_to_the_same_weights(tmp_path):
    straight, _, _ = _run(tmp_path / "a", 8)
    _run(tmp_path / "b", 8, resume_from_break=4)  # interrupted after the save at step 3
    resumed_model, loop, resumed = _run(tmp_path / "b", 8)
    assert resumed and loop.step == 8
    torch.testing.assert_close(resumed_model.weight, straight.weight)
    torch.testing.assert_close(resumed_model.bias, straight.bias)
    assert (tmp_path / "b" / "t_loss.png").stat().st_size > 1000
    hist = json.loads((tmp_path / "b" / "t_losses.json").read_text())
    assert [h["step"] for h in hist] == list(range(1, 9))


def test_non_finite_loss_is_an_error(tmp_path):
    p = nn.Parameter(torch.zeros(1))
    loop = TrainLoop([p], LoopConfig(steps=2, warmup=0), tmp_path, "nan", progress=False)
    with pytest.raises(FloatingPointError, match="non-finite"):
        loop.update({"total": p.sum() * float("nan")})


def test_plot_losses_empty_history_writes_nothing(tmp_path):
    assert plot_losses([], tmp_path / "x.png") is None


def test_start_without_resume_ignores_a_previous_save(tmp_path):
    _run(tmp_path, 8, resume_from_break=4)  # a save at step 3 is there
    model = nn.Linear(4, 1)
    loop = TrainLoop(model.parameters(), LoopConfig(steps=8, save_every=3), tmp_path, "t", progress=False)
    assert loop.start({"m": model}, resume=False) is False and loop.step == 0
