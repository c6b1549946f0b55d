"""The trainers' fused optimizers make the plain optimizers' updates (up to float rounding) and share their
state-dict layout, so checkpoints written with either resume with the other."""

from __future__ import annotations

import torch

from kbsc.training.optim import adam, sgd


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))


def _train(net: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, start: int = 0) -> None:
    for t in range(start, start + steps):
        x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(t))
        opt.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
        opt.step()


def _params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_fused_adam_matches_plain_adam():
    a, b = _net(), _net()
    _train(a, torch.optim.Adam(a.parameters(), lr=1e-2), 20)
    _train(b, adam(b.parameters(), 1e-2), 20)
    assert adam(b.parameters(), 1e-2).defaults["fused"]
    assert not torch.equal(_params(a), _params(_net()))  # it did train
    torch.testing.assert_close(_params(a), _params(b), rtol=1e-4, atol=1e-5)


def test_fused_sgd_matches_plain_sgd():
    a, b = _net(), _net()
    kw = {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
    _train(a, torch.optim.SGD(a.parameters(), lr=0.05, **kw), 20)
    _train(b, sgd(b.parameters(), 0.05, **kw), 20)
    torch.testing.assert_close(_params(a), _params(b), rtol=1e-4, atol=1e-5)


def test_plain_adam_checkpoint_resumes_in_fused_adam():
    a, b = _net(), _net()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    _train(a, opt_a, 20)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    _train(b, opt_b, 10)
    fused = adam(b.parameters(), 1e-2)
    fused.load_state_dict(opt_b.state_dict())
    _train(b, fused, 10, start=10)
    torch.testing.assert_close(_params(a), _params(b), rtol=1e-4, atol=1e-5)
