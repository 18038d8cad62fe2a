"""Geometry measurements against known answers: constructed points, rigid motions, a power
law, and native held-out chains (which must look native)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molediff.domains.proteins import geometry as g
from molediff.domains.proteins.metrics import design_metrics, summary_metrics


def test_dihedral_known_angles():
    p0, p1, p2 = np.array([1.0, 0, 0]), np.zeros(3), np.array([0, 0, 1.0])
    for deg in (-150.0, -60.0, 0.0, 60.0, 120.0, 180.0):
        a = np.radians(deg)
        p3 = np.array([np.cos(a), np.sin(a), 1.0])
        got = g.dihedral(p0, p1, p2, p3)
        assert abs(((got - deg) + 180) % 360 - 180) < 1e-9


def test_kabsch_rmsd_is_zero_for_a_rigid_motion_and_exact_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 3)) * 5
    r = Rotation.random(random_state=1).as_matrix()
    assert g.kabsch_rmsd(a @ r.T + [3.0, -2.0, 7.0], a) < 1e-9
    b = a.copy()
    b[0] += [0.0, 0.0, 3.0]  # one point moved: RMSD > 0 and at most 3/sqrt(30)
    assert 0 < g.kabsch_rmsd(b, a) <= 3 / np.sqrt(30) + 1e-9


def test_scaling_exponent_recovers_a_power_law():
    lengths = np.array([50, 80, 120, 200, 256])
    nu, r0 = g.scaling_exponent(lengths, 2.2 * lengths**0.38)
    assert nu == pytest.approx(0.38, abs=1e-9) and r0 == pytest.approx(2.2, rel=1e-9)


def test_clashes_skip_sequence_neighbours_but_not_other_chains():
    bb = np.zeros((3, 4, 3))
    bb[:, 1] = [[0, 0, 0], [2.5, 0, 0], [20, 0, 0]]
    assert g.ca_clashes(bb) == 0  # 0-1 adjacent
    assert g.ca_clashes(bb, np.array([0, 1, 1])) == 1  # 0 and 1 on different chains


def test_native_held_out_chains_give_native_values(native_test_chains):
    """Known answer: experimental structures have near-ideal geometry (FrameFlow reports
    CA–CA deviation ~0.01–0.03 Å, Ramachandran > 95 %, few clashes for natives)."""
    per = [design_metrics(bb) for bb in native_test_chains.coords]
    s = summary_metrics(per)
    assert s["mean_ca_ca_deviation"] < 0.05
    assert s["mean_ca_ca_valid"] > 0.95
    assert s["clash_free"] > 0.9
    assert s["mean_ramachandran_allowed"] > 0.93
    assert s["mean_bond_deviation"] < 0.03
    assert s["mean_angle_deviation"] < 3.0
    # the shipped chains measure nu = 0.24 (train, valid and test alike): short chains
    # cut from complexes are less compact than globules, so Rg grows slower than L^0.38
    assert 0.15 < s["rg_exponent"] < 0.45
    # ... and no chain is more compact than a sphere of protein density (~1.2 Å^3 per Da)
    lengths = np.array([len(bb) for bb in native_test_chains.coords])
    sphere_rg = np.sqrt(3 / 5) * (3 * lengths * 110 * 1.21 / (4 * np.pi)) ** (1 / 3)
    rg = np.array([m["radius_of_gyration"] for m in per])
    assert (rg > 0.75 * sphere_rg).all()
    ss = s["mean_helix"] + s["mean_strand"] + s["mean_coil"]
    assert ss == pytest.approx(1.0) and s["mean_helix"] > 0.15 and s["mean_strand"] > 0.1


def test_secondary_structure_of_an_ideal_helix():
    """An α-helix built from ideal internal coordinates (φ -57°, ψ -47°) is all helix in
    its middle under DSSP."""
    bb = _build_backbone(np.full(30, -57.0), np.full(30, -47.0))
    ss = g.secondary_structure(bb)
    assert (ss[4:-4] == "H").all()
    phi, psi = g.phi_psi(bb)
    assert np.allclose(phi, -57.0, atol=1e-6) and np.allclose(psi, -47.0, atol=1e-6)
    assert g.ramachandran_allowed(phi, psi).all()
    assert np.abs(g.ca_ca_distances(bb) - 3.80).max() < 0.05


def _place(a, b, c, bond, angle, torsion):
    """Atom d with |cd| = bond, angle bcd, dihedral abcd (NeRF)."""
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.stack([bc, np.cross(n, bc), n], 1)
    ang, tor = np.radians(angle), np.radians(torsion)
    d2 = np.array([-bond * np.cos(ang), bond * np.sin(ang) * np.cos(tor),
                   bond * np.sin(ang) * np.sin(tor)])
    return c + m @ d2


def _build_backbone(phi, psi, omega=180.0):
    n = np.array([0.0, 1.4, 0.0])
    ca = np.zeros(3)
    c = np.array([1.525, 0.0, 0.0])
    atoms = [[n, ca, c]]
    for i in range(1, len(phi)):
        pn, pca, pc = atoms[-1]
        nn = _place(pn, pca, pc, 1.329, 116.2, psi[i - 1])
        nca = _place(pca, pc, nn, 1.458, 121.7, omega)
        nc = _place(pc, nn, nca, 1.525, 111.2, phi[i])
        atoms.append([nn, nca, nc])
    out = []
    for i, (an, aca, ac) in enumerate(atoms):
        nxt = atoms[i + 1][0] if i + 1 < len(atoms) else _place(an, aca, ac, 1.329, 116.2, psi[i])
        o = _place(nxt, aca, ac, 1.231, 120.5, 180.0)
        out.append([an, aca, ac, o])
    return np.array(out)
