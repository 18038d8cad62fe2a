"""Shared helpers for the equivariance tests of the graph denoisers (float64)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Batch, Data


def random_orthogonal(reflect: bool, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflect:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q


def make_batch(sizes, feat, v=1, cond_features=0, edge_features=0, seed=0, scale=2.0):
    """A PyG batch of random graphs and the matching ``x_in [N, 3V + feat]``."""
    gen = torch.Generator().manual_seed(seed)
    datas = []
    for n in sizes:
        d = Data(num_nodes=n)
        if cond_features:
            d.h = torch.randn(n, cond_features, generator=gen, dtype=torch.float64)
        if edge_features:
            # a chain of "bonds" in both directions
            a = torch.arange(max(n - 1, 0))
            d.edge_index = torch.cat([torch.stack([a, a + 1]), torch.stack([a + 1, a])], 1)
            d.edge_attr = torch.randn(2 * a.numel(), edge_features, generator=gen,
                                      dtype=torch.float64)
        datas.append(d)
    cond = Batch.from_data_list(datas)
    n_tot = sum(sizes)
    x = torch.randn(n_tot, 3 * v, generator=gen, dtype=torch.float64) * scale
    f = torch.randn(n_tot, feat, generator=gen, dtype=torch.float64)
    c = torch.randn(n_tot, 1, generator=gen, dtype=torch.float64).abs() * 0.0 + 0.3
    return torch.cat([x, f], 1), c, cond


def rotate(x_in, q, t, v):
    n = x_in.shape[0]
    coords = x_in[:, : 3 * v].reshape(n, v, 3) @ q.T + t
    return torch.cat([coords.reshape(n, 3 * v), x_in[:, 3 * v :]], 1)


def rotate_out(out, q, v):
    n = out.shape[0]
    coords = out[:, : 3 * v].reshape(n, v, 3) @ q.T
    return torch.cat([coords.reshape(n, 3 * v), out[:, 3 * v :]], 1)


def permute_cond(cond, perm_within):
    """Apply per-graph node permutations (keeps ``batch`` sorted)."""
    datas = cond.to_data_list()
    out = []
    for d, p in zip(datas, perm_within, strict=True):
        e = Data(num_nodes=d.num_nodes)
        inv = torch.empty_like(p)
        inv[p] = torch.arange(p.numel())
        for key in ("h",):
            if key in d:
                e[key] = d[key][p]
        if "edge_index" in d:
            e.edge_index = inv[d.edge_index]
            e.edge_attr = d.edge_attr
        out.append(e)
    return Batch.from_data_list(out)


def graph_perms(sizes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(n, generator=gen) for n in sizes]
    offs = torch.tensor([0] + list(sizes)).cumsum(0)
    glob = torch.cat([p + o for p, o in zip(perms, offs[:-1], strict=False)]) if perms else \
        torch.zeros(0, dtype=torch.long)
    return perms, glob


@pytest.fixture
def eq():
    return SimpleNamespace(
        random_orthogonal=random_orthogonal,
        make_batch=make_batch,
        rotate=rotate,
        rotate_out=rotate_out,
        permute_cond=permute_cond,
        graph_perms=graph_perms,
    )
