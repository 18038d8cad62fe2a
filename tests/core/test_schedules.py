import math

import pytest
import torch

from molediff.core.schedules import (
    SCHEDULES,
    KarrasSchedule,
    LinearSchedule,
    LogNormal,
    PolynomialSchedule,
    RectifiedFlowSchedule,
    SigmoidSchedule,
    check_sigmas,
    get_schedule,
)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_grid_descends_to_zero_and_spans_range(name):
    sch = get_schedule(name)
    s = sch.sigmas(25)
    check_sigmas(s)
    assert len(s) == 26
    assert s[0] == pytest.approx(sch.sigma_max) and s[-2] == pytest.approx(sch.sigma_min)
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    assert (sch.sigma(t).diff() > 0).all()  # increasing in t
    assert torch.allclose(sch.t(sch.sigma(t)), t, atol=1e-8)  # inverse


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_training_levels_stay_in_range(name):
    sch = get_schedule(name)
    s = sch.sample(1000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert s.min() >= sch.sigma_min * (1 - 1e-9) and s.max() <= sch.sigma_max * (1 + 1e-9)


def test_karras_matches_eq5():
    s = KarrasSchedule(0.002, 80.0, 7.0).sigmas(18)
    i = torch.arange(18, dtype=torch.float64)
    ref = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert torch.allclose(s[:-1], ref, rtol=1e-12)


def test_linear_matches_discrete_ddpm():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    sigma_ddpm = ((1 - ab) / ab).sqrt()
    sch = LinearSchedule()
    for k in (99, 499, 999):
        t = torch.tensor((k + 1) / 1000, dtype=torch.float64)
        assert float(sch.sigma(t)) == pytest.approx(float(sigma_ddpm[k]), rel=0.05)  # continuous-time limit


def test_polynomial_2_end_points():
    sch = PolynomialSchedule()
    s = 1e-5
    assert sch.sigma_min == pytest.approx(math.sqrt(s / (1 - s)), rel=1e-9)
    assert sch.sigma_max == pytest.approx(math.sqrt((1 - s) / s), rel=1e-9)


def test_sigmoid_matches_geodiff_betas():
    sch = SigmoidSchedule()
    betas = torch.sigmoid(torch.linspace(-6, 6, 5000, dtype=torch.float64)) * (2e-3 - 1e-7) + 1e-7
    ab = torch.cumprod(1 - betas, 0)
    assert sch.sigma_max == pytest.approx(float(((1 - ab[-1]) / ab[-1]).sqrt()), rel=1e-9)


def test_rectified_flow_sigma_is_odds():
    sch = RectifiedFlowSchedule()
    assert float(sch.sigma(torch.tensor(0.5))) == pytest.approx(1.0)
    assert float(sch.sigma(torch.tensor(0.2))) == pytest.approx(0.25)


def test_lognormal_moments():
    s = LogNormal(-1.2, 1.2).sample(200_000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(s.log().mean()) == pytest.approx(-1.2, abs=0.01)
    assert float(s.log().std()) == pytest.approx(1.2, abs=0.01)


def test_bad_names_and_grids():
    with pytest.raises(ValueError, match="unknown schedule 'cosin'"):
        get_schedule("cosin")
    with pytest.raises(ValueError, match="end in 0"):
        check_sigmas(torch.tensor([3.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="descending"):
        check_sigmas(torch.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        check_sigmas(torch.tensor([float("nan"), 0.0]))
    with pytest.raises(ValueError, match="steps"):
        KarrasSchedule().sigmas(0)
