import pytest
import torch
from torch import nn

from molediff.core.denoisers import PARAMETERIZATIONS, WEIGHTINGS, get_parameterization
from molediff.core.oracle import GaussianMixture
from molediff.core.space import DenseSpace, GraphSpace

from .conftest import dense_mixture


class OracleNet(nn.Module):
    """The network that makes a parameterization equal to the exact denoiser, plus
    ``alpha`` times a fixed perturbation."""

    def __init__(self, oracle, alpha: float = 0.0):
        super().__init__()
        self.oracle, self.alpha, self.owner = oracle, alpha, []  # list: no module cycle

    def forward(self, x_in, c_noise, cond):
        p = self.owner[0]
        sigma = torch.exp(4 * c_noise)
        x = x_in / p.c_in(sigma)
        f = (self.oracle(x, sigma) - p.c_skip(sigma) * x) / p.c_out(sigma)
        return f + self.alpha * torch.tanh(x_in)


def wrap(name, oracle, alpha=0.0, **kw):
    net = OracleNet(oracle, alpha)
    p = get_parameterization(name)(net, **kw)
    net.owner.append(p)
    return p


@pytest.mark.parametrize("name", sorted(PARAMETERIZATIONS))
def test_wrapper_reproduces_the_exact_denoiser(name, float64):
    gm, tmpl = dense_mixture(64)
    x = torch.randn(64, 2) * 3
    for sigma in (0.01, 0.7, 20.0):
        s = gm.space.expand(torch.full((64,), sigma))
        assert torch.allclose(wrap(name, gm)(x, s), gm(x, s), atol=1e-9)


@pytest.mark.parametrize("name", sorted(PARAMETERIZATIONS))
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_loss_is_minimised_by_the_exact_denoiser(name, weighting, float64):
    """L(alpha) along a perturbation direction is a parabola (common random numbers);
    its vertex must sit at alpha = 0, far inside the probed interval."""
    gm, tmpl = dense_mixture(8000)
    x0 = gm.sample(tmpl, torch.Generator().manual_seed(0))
    h = 0.05
    losses = []
    for alpha in (-h, 0.0, h):
        p = wrap(name, gm, alpha, weighting=weighting)
        losses.append(float(p.loss(x0, None, gm.space, torch.Generator().manual_seed(1))))
    lm, l0, lp = losses
    curvature = lm - 2 * l0 + lp
    assert curvature > 0
    vertex = h * (lm - lp) / (2 * curvature)
    assert abs(vertex) < 0.2 * h, (losses, vertex)
    assert l0 < min(lm, lp)


def test_x0_loss_equals_posterior_variance_on_graphs(float64):
    """Known answer: for N(mu, s² I) on the centred subspace, E||D* - x0||² per degree of
    freedom is the posterior variance s² sigma² / (s² + sigma²)."""
    sizes = [4, 7] * 500
    space = GraphSpace.from_sizes(sizes)
    g = torch.Generator().manual_seed(0)
    mean = space.project(torch.randn(sum(sizes), 3, generator=g))
    s = 0.6
    gm = GaussianMixture(mean.unsqueeze(0), torch.tensor([s]), torch.tensor([1.0]), space)
    x0 = gm.sample(torch.zeros_like(mean), g)
    p = wrap("x0", gm, weighting="uniform")
    for sigma in (0.3, 1.5):
        loss = p.loss(x0, None, space, g, sigma=torch.tensor(sigma))
        expected = s**2 * sigma**2 / (s**2 + sigma**2)
        assert float(loss) == pytest.approx(expected, rel=0.02)


def test_min_snr_weight_caps_at_gamma(float64):
    p = get_parameterization("eps")(nn.Identity(), weighting="min_snr", min_snr_gamma=5.0)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    assert torch.allclose(p.loss_weight(sigma), torch.tensor([5.0, 1.0, 0.01]))


def test_edm_weight_is_inverse_c_out_squared(float64):
    p = get_parameterization("edm")(nn.Identity(), sigma_data=0.5, weighting="edm")
    sigma = torch.tensor([0.01, 0.5, 30.0])
    assert torch.allclose(p.loss_weight(sigma), 1 / p.c_out(sigma) ** 2)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown parameterization 'epsilon'"):
        get_parameterization("epsilon")
    with pytest.raises(ValueError, match="unknown loss weighting"):
        get_parameterization("eps")(nn.Identity(), weighting="snr")


class Zero(nn.Module):
    def forward(self, x_in, c_noise, cond):
        return torch.zeros_like(x_in)


def test_dense_space_loss_shapes(float64):
    space = DenseSpace(8, 3)
    p = get_parameterization("edm")(Zero())
    per_sample = p.loss(torch.randn(8, 1, 4, 4), None, space, reduce=False)
    assert per_sample.shape == (8,) and torch.isfinite(per_sample).all()
