"""Known answers of the PointFlow / LION set metrics."""

from __future__ import annotations

import math

import pytest
import torch

from molediff.domains.pointclouds import metrics as M


def sphere(n: int, count: int, radius: float = 1.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(count, n, 3, generator=g, dtype=torch.float64)
    return radius * x / x.norm(dim=-1, keepdim=True)


def cube(n: int, count: int, seed: int = 0) -> torch.Tensor:
    """Points on the surface of the cube [-0.6, 0.6]^3."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(count, n, 3, generator=g, dtype=torch.float64) * 1.2 - 0.6
    face = torch.randint(0, 3, (count, n), generator=g)
    sign = torch.randint(0, 2, (count, n), generator=g).double() * 1.2 - 0.6
    x.scatter_(2, face[..., None], sign[..., None])
    return x


def test_chamfer_is_squared_and_two_sided():
    x = torch.zeros(1, 1, 3, dtype=torch.float64)
    y = torch.tensor([[[0.3, 0.4, 0.0]]], dtype=torch.float64)  # distance 0.5
    assert M.chamfer(x, y).item() == pytest.approx(2 * 0.25)
    pts = sphere(64, 2)
    assert M.chamfer(pts, pts).abs().max().item() < 1e-12
    # one extra far point in y: only the y->x direction sees it
    y2 = torch.cat([pts[:1], torch.full((1, 1, 3), 10.0, dtype=torch.float64)], 1)
    d = (y2[0, -1:] - pts[0]).norm(dim=1).min().item() ** 2
    assert M.chamfer(pts[:1], y2).item() == pytest.approx(d / 65, rel=1e-9)


def test_emd_exact_knows_permutations_and_translations():
    x = sphere(100, 2)
    perm = x[:, torch.randperm(100)]
    assert M.emd_exact(x, perm).abs().max().item() < 1e-12
    t = torch.tensor([0.01, 0.0, 0.0], dtype=torch.float64)  # small: matching stays identity
    assert M.emd_exact(x, x + t).tolist() == pytest.approx([0.01, 0.01], rel=1e-9)
    with pytest.raises(ValueError, match="equal point counts"):
        M.emd_exact(x, x[:, :50])


def test_sinkhorn_is_close_to_exact_on_different_shapes():
    a, b = sphere(200, 2, seed=1), cube(200, 2, seed=2)
    exact = M.emd_exact(a, b)
    approx = M.emd_sinkhorn(a, b)
    assert ((approx / exact) - 1).abs().max().item() < 0.05
    value, method = M.emd(a, b)
    assert method == "exact" and torch.allclose(value, exact)


def test_one_nna_self_is_zero_leave_one_out():
    s = sphere(64, 20) * torch.linspace(0.5, 1.5, 20, dtype=torch.float64)[:, None, None]
    m = M.compare_sets(s, s, emd=False)
    assert m["1nna_cd"] == 0.0
    assert m["mmd_cd"] == 0.0 and m["cov_cd"] == 1.0 and m["jsd"] == pytest.approx(0.0, abs=1e-12)


def test_one_nna_same_distribution_is_about_half():
    """Spheres of random radius in [0.5, 1): two disjoint samples of one distribution."""
    g = torch.Generator().manual_seed(3)
    radii = 0.5 + 0.5 * torch.rand(120, generator=g, dtype=torch.float64)
    clouds = sphere(64, 120, seed=4) * radii[:, None, None]
    m = M.compare_sets(clouds[:60], clouds[60:], emd=True)
    assert 0.35 <= m["1nna_cd"] <= 0.65, m
    assert 0.35 <= m["1nna_emd"] <= 0.65, m
    assert m["emd_method"] == "exact"
    assert m["cov_cd"] > 0.4


def test_one_nna_unequal_set_sizes_stay_at_half():
    """16 samples against 112 references of one distribution: 1-NNA on the unequal sets
    reads ~78 % (most nearest neighbours are references); balanced, it stays near 50 %."""
    g = torch.Generator().manual_seed(7)
    radii = 0.5 + 0.5 * torch.rand(128, generator=g, dtype=torch.float64)
    clouds = sphere(64, 128, seed=8) * radii[:, None, None]
    m = M.compare_sets(clouds[:16], clouds[16:], emd=False)
    assert m["1nna_pairs"] == 16 and m["num_reference"] == 112
    assert 0.25 <= m["1nna_cd"] <= 0.7, m
    d_ss = M.pairwise(M.chamfer, clouds[:16], clouds[:16])
    d_sr = M.pairwise(M.chamfer, clouds[:16], clouds[16:])
    d_rr = M.pairwise(M.chamfer, clouds[16:], clouds[16:])
    assert M.one_nna(d_ss, d_sr, d_rr) > 0.7  # the bias the balancing removes


def test_one_nna_different_sets_is_high():
    a = sphere(64, 30, radius=0.8, seed=5)
    b = cube(64, 30, seed=6)
    m = M.compare_sets(a, b, emd=True)
    assert m["1nna_cd"] >= 0.9 and m["1nna_emd"] >= 0.9, m
    assert m["jsd"] > 0.1


def test_mmd_and_cov_follow_pointflow_argument_order():
    # three references, two identical samples equal to reference 0: COV = 1/3, MMD = mean
    # over references of the distance to the nearest sample
    refs = torch.stack([sphere(32, 1, r)[0] for r in (0.5, 1.0, 1.5)])
    samples = refs[:1].repeat(2, 1, 1)
    d = M.pairwise(M.chamfer, samples, refs)
    assert d.shape == (2, 3)
    mmd, cov = M.mmd_cov(d)
    assert cov == pytest.approx(1 / 3)
    assert mmd == pytest.approx(d[0].mean().item())


def test_jsd_of_disjoint_occupancy_is_one():
    a = torch.full((1, 10, 3), -0.9, dtype=torch.float64)
    b = torch.full((1, 10, 3), 0.9, dtype=torch.float64)
    assert M.jsd(a, b) == pytest.approx(1.0)
    assert M.occupancy(a).sum() == 10 and M.occupancy(a).shape == (28**3,)


def test_bad_input_is_refused():
    bad = sphere(8, 2)
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        M.compare_sets(bad, sphere(8, 2))
    with pytest.raises(ValueError, match=r"\[B, N, 3\]"):
        M.compare_sets(torch.zeros(2, 8), sphere(8, 2))
