import pytest
import torch

from molediff.core.guidance import classifier_free, gradient_guidance, inpaint, repaint
from molediff.core.oracle import GaussianMixture
from molediff.core.samplers import sample
from molediff.core.schedules import KarrasSchedule
from molediff.core.space import DenseSpace, GraphSpace

from .conftest import graph_batch


def two_class(batch: int):
    """Classes 0 and 1 are the two components of a 50/50 mixture in 2-D."""
    space = DenseSpace(batch, 1)
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).unsqueeze(1)
    stds = torch.tensor([0.6, 0.6])
    joint = GaussianMixture(means, stds, torch.tensor([0.5, 0.5]), space)
    per_class = [GaussianMixture(means[k : k + 1], stds[k : k + 1], torch.ones(1), space) for k in range(2)]

    def denoiser(x, sigma, cond):
        return joint(x, sigma) if cond is None else per_class[cond](x, sigma)

    return joint, per_class, denoiser, space


@pytest.mark.parametrize("scale,expected", [(0.0, 0.5), (1.0, 0.9522)])
def test_classifier_free_guidance_moves_mass(scale, expected, float64):
    """Scale 0 samples the unconditional mixture, scale 1 the class-1 component; the mass
    right of the origin is then 0.5 and Phi(1 / 0.6) = 0.9522."""
    joint, per_class, denoiser, space = two_class(8000)
    guided = classifier_free(denoiser, scale, null_cond=None)
    x, _ = sample("heun", guided, torch.zeros(8000, 2), KarrasSchedule().sigmas(20), space=space,
                  cond=1, generator=torch.Generator().manual_seed(0))
    assert float((x[:, 0] > 0).double().mean()) == pytest.approx(expected, abs=0.015)


def test_guidance_scale_above_one_sharpens(float64):
    joint, per_class, denoiser, space = two_class(8000)
    fracs = []
    for scale in (1.0, 3.0):
        x, _ = sample("heun", classifier_free(denoiser, scale), torch.zeros(8000, 2),
                      KarrasSchedule().sigmas(20), space=space, cond=1, generator=torch.Generator().manual_seed(0))
        fracs.append(float((x[:, 0] > 0).double().mean()))
    assert fracs[1] > fracs[0] + 0.02


def test_gradient_guidance_with_the_exact_classifier_is_the_conditional_denoiser(float64):
    """D(x) + sigma² ∇log p(c=1 | x_sigma) = D(x | c=1) exactly (Bayes + Tweedie)."""
    joint, per_class, denoiser, space = two_class(64)

    def grad_log_p(x, sigma, cond):
        x = x.detach().requires_grad_(True)
        s = space.collapse(sigma)
        terms = joint.log_prob_terms(x, s)
        log_post = terms[1] - torch.logsumexp(terms, dim=0)
        return torch.autograd.grad(log_post.sum(), x)[0]

    guided = gradient_guidance(lambda x, s, c: joint(x, s), grad_log_p)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 2
    for sigma in (0.05, 0.8, 10.0):
        s = space.expand(torch.full((64,), sigma))
        assert torch.allclose(guided(x, s, None), per_class[1](x, s), atol=1e-9)


def corner_mixture(batch: int):
    space = DenseSpace(batch, 1)
    means = torch.tensor([[-2.0, -2.0], [2.0, 2.0]]).unsqueeze(1)
    return GaussianMixture(means, torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.5]), space), space


def conditional_x2(x1: float) -> tuple[float, float]:
    """Exact p(x2 | x1) for the corner mixture: weights of the components, then the mean
    and the mass above 0 of the resulting 1-D mixture."""
    import math

    w = torch.tensor([math.exp(-((x1 + 2) ** 2) / 2), math.exp(-((x1 - 2) ** 2) / 2)])
    w = w / w.sum()
    mean = float(w[0] * -2 + w[1] * 2)
    phi = 0.5 * (1 + math.erf(2 / math.sqrt(2)))
    above = float(w[0] * (1 - phi) + w[1] * phi)
    return mean, above


def test_repaint_keeps_known_part_and_approaches_the_conditional(float64):
    """Replacement alone (one pass per step) is biased towards the unconditional x2; RePaint's
    resampling harmonises the unknown part with the known one and approaches p(x2 | x1)."""
    n = 2000
    gm, space = corner_mixture(n)
    known = torch.zeros(n, 2)
    known[:, 0] = 0.3
    mask = torch.zeros(n, 2, dtype=torch.bool)
    mask[:, 0] = True
    mean, above = conditional_x2(0.3)
    sig = KarrasSchedule(sigma_max=20.0).sigmas(40)
    errors = []
    for resamples in (1, 20):
        g = torch.Generator().manual_seed(0)
        x_T = float(sig[0]) * space.randn_like(known, g)
        x = repaint(gm, x_T, sig, space=space, known=known, mask=mask, generator=g, resamples=resamples)
        assert torch.equal(x[:, 0], known[:, 0])
        errors.append((abs(float(x[:, 1].mean()) - mean), abs(float((x[:, 1] > 0).double().mean()) - above)))
    assert errors[0][0] > 0.5  # replacement: far off
    assert errors[1][0] < 0.2 and errors[1][1] < 0.04, errors


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m", "ddpm"])
def test_inpainting_fixed_graph_nodes_stay_exact(name, float64):
    """A motif of fixed nodes is kept exactly; the rest of each graph stays centred on the
    motif's frame and is generated around it."""
    gm, _, tmpl = graph_batch(sizes=(4, 6), copies=20)
    batch = torch.repeat_interleave(torch.arange(40), torch.tensor([4, 6] * 20))
    fixed = torch.zeros(len(batch), dtype=torch.bool)
    starts = torch.cumsum(torch.tensor([0] + [4, 6] * 20), 0)[:-1]
    fixed[starts] = True
    fixed[starts + 1] = True
    space = GraphSpace(batch, 40, fixed_mask=fixed)
    known = gm.means[0].clone()
    known = known - space.centre(known)[batch]  # the motif's centre is the frame's origin
    gm = GaussianMixture(known.unsqueeze(0), torch.tensor([0.3]), torch.ones(1), space)
    x, _ = sample(name, inpaint(gm, known, fixed.unsqueeze(-1).expand_as(known)), known,
                  KarrasSchedule().sigmas(200 if name == "ddpm" else 20), space=space,
                  generator=torch.Generator().manual_seed(0))
    # Exact up to the rounding of re-centring on the motif (~1e-16 Å).
    assert torch.allclose(x[fixed], known[fixed], rtol=0, atol=1e-12)
    assert space.centre(x).abs().max() < 1e-9
    free_err = ((x - known)[~fixed] ** 2).sum() / (3 * (~fixed).sum())
    assert float(free_err) == pytest.approx(0.3**2, rel=0.25)
