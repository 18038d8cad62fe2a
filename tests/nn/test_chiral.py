"""The chiral EGNN option: SE(3)-equivariant, but it tells mirror images apart."""

from __future__ import annotations

import torch

from molediff.nn.egnn import EGNN

from .test_nn_equivariance import FEAT, SIZES


def _net():
    torch.manual_seed(0)
    net = EGNN(3 + FEAT, hidden=16, layers=2, chiral=True).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def test_chiral_egnn_is_rotation_and_translation_equivariant(eq):
    net = _net()
    x, c, cond = eq.make_batch(SIZES, FEAT)
    out = net(x, c, cond)
    g = torch.Generator().manual_seed(7)
    q = eq.random_orthogonal(False, g)
    t = torch.randn(3, generator=g, dtype=torch.float64) * 5
    torch.testing.assert_close(net(eq.rotate(x, q, t, 1), c, cond), eq.rotate_out(out, q, 1),
                               atol=1e-6, rtol=0)


def test_chiral_egnn_is_not_reflection_equivariant_but_plain_egnn_is(eq):
    x, c, cond = eq.make_batch(SIZES, FEAT)
    q = eq.random_orthogonal(True, torch.Generator().manual_seed(7))
    zero = torch.zeros(3, dtype=torch.float64)
    chiral = _net()
    gap = (chiral(eq.rotate(x, q, zero, 1), c, cond) - eq.rotate_out(chiral(x, c, cond), q, 1)).abs().max()
    assert gap > 1e-4  # the mirror image gets a different (not mirrored) update
    torch.manual_seed(0)
    plain = EGNN(3 + FEAT, hidden=16, layers=2).double()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.testing.assert_close(plain(eq.rotate(x, q, zero, 1), c, cond),
                               eq.rotate_out(plain(x, c, cond), q, 1), atol=1e-6, rtol=0)
