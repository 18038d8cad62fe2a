import pytest
import torch
from torch import nn

from molediff.core.ema import EMA


def test_ema_matches_its_formula():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.9, warmup=True)
    expected = [p.detach().clone() for p in model.parameters()]
    for t in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + t) / (10 + t))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters(), strict=True)]
        ema.update(model)
    for e, s in zip(expected, ema.shadow.parameters(), strict=True):
        assert torch.allclose(e, s, atol=1e-6)
    assert int(ema.num_updates) == 30


def test_warmup_forgets_the_initial_weights_fast():
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, decay=0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.shadow.weight.data.fill_(0.0)
    for _ in range(20):
        ema.update(model)
    assert float(ema.shadow.weight) > 0.8  # without warm-up: 1 - 0.999^20 = 0.02
    no_warm = EMA(nn.Linear(1, 1, bias=False), decay=0.999, warmup=False)
    assert no_warm.current_decay() == 0.999


def test_bad_decay():
    with pytest.raises(ValueError, match="decay"):
        EMA(nn.Linear(1, 1), decay=1.0)
