"""C_n / D_n: group matrices, the symmetrising projection and the space built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molediff.domains.proteins.space import ProteinSpace
from molediff.domains.proteins.symmetry import (
    SymmetryLayout,
    group_order,
    parse_symmetry,
    rotations,
    symmetrize,
    symmetry_rmsd,
)
from molediff.utils.errors import UsageError


@pytest.mark.parametrize("text,order", [("C3", 3), ("c2", 2), ("D2", 4), ("D5", 10)])
def test_groups_are_closed_sets_of_rotations(text, order):
    sym = parse_symmetry(text)
    r = rotations(sym)
    assert group_order(sym) == order == len(r)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(r @ r.transpose(1, 2), eye.expand_as(r), atol=1e-12)
    assert torch.allclose(torch.linalg.det(r), torch.ones(order, dtype=torch.float64))
    # closure: every product is in the group
    flat = r.reshape(order, 9)
    for a in r:
        prods = (a @ r).reshape(order, 1, 9)
        assert ((prods - flat[None]).abs().amax(-1) < 1e-9).any(1).all()


@pytest.mark.parametrize("text", ["C1", "X3", "C", "D0", "C3x"])
def test_bad_symmetry_is_refused(text):
    with pytest.raises(UsageError):
        parse_symmetry(text)


def _layout(sym, m):
    r = rotations(sym, torch.float64)
    g = len(r)
    k = torch.arange(g * m) // m
    return SymmetryLayout(r[k], torch.arange(g * m) % m, m, torch.full((m,), float(g)))


@pytest.mark.parametrize("text", ["C3", "D2"])
def test_symmetrize_is_an_idempotent_projection_onto_symmetric_structures(text):
    sym = parse_symmetry(text)
    m = 7
    lay = _layout(sym, m)
    x = torch.randn(group_order(sym) * m, 12, dtype=torch.float64)
    lay64 = lay.to("cpu", torch.float64)
    y = symmetrize(x, lay64, 4)
    assert torch.allclose(symmetrize(y, lay64, 4), y, atol=1e-12)
    assert symmetry_rmsd(y.reshape(-1, 4, 3).numpy(), sym) < 1e-12
    assert symmetry_rmsd(x.reshape(-1, 4, 3).numpy(), sym) > 0.1
    # orthogonal projection: the residual is orthogonal to the symmetric part
    assert abs(float(((x - y) * y).sum())) < 1e-9


def test_symmetric_space_noise_and_projection():
    sym = parse_symmetry("C4")
    m = 10
    n = 4 * m
    space = ProteinSpace(torch.zeros(n, dtype=torch.long), 1, symmetry=_layout(sym, m),
                         group_size=4, sample_seeds=[3])
    eps = space.randn_like(torch.zeros(n, 12))
    assert symmetry_rmsd(eps.double().reshape(n, 4, 3).numpy(), sym) < 1e-5
    # per-atom noise scale matches an unsymmetrised draw (sqrt(|G|) rescaling)
    assert 0.8 < float(eps.std()) < 1.2
    x = space.project(torch.randn(n, 12) * 5 + 3)
    assert symmetry_rmsd(x.double().reshape(n, 4, 3).numpy(), sym) < 1e-5
    assert float(x[:, 3:6].mean(0).abs().max()) < 1e-4  # still CA-centred


def test_motif_pins_are_exact_and_centring_keeps_geometry():
    torch.manual_seed(0)
    n = 20
    x = torch.randn(n, 12) * 4
    fixed = torch.zeros(n, dtype=torch.bool)
    fixed[5:9] = True
    known = ProteinSpace(torch.zeros(n, dtype=torch.long), 1, fixed_mask=fixed, known=x).centred(x)
    space = ProteinSpace(torch.zeros(n, dtype=torch.long), 1, fixed_mask=fixed, known=known)
    y = space.project(torch.randn(n, 12) * 10)
    assert torch.equal(y[fixed], known[fixed])
    # one shift for all channels: intra-residue vectors (N - CA) are unchanged
    z = space.project(x + 7.0)
    assert torch.allclose(z[~fixed, 0:3] - z[~fixed, 3:6], x[~fixed, 0:3] - x[~fixed, 3:6],
                          atol=1e-5)
    assert float(space.randn_like(x)[fixed].abs().max()) == 0.0
    bb = np.asarray(known[fixed].reshape(-1, 4, 3))
    assert np.allclose(bb[:, 1].mean(0), 0.0, atol=1e-5)  # centred on the motif's CA centroid
