"""The protein denoiser: the domain's EGNN (four channels, CA-centred update, kNN +
relative-position edges) is rotation-equivariant and translation-invariant, lets the
channels move against each other as a whole, and its memory is linear in length."""

from __future__ import annotations

import torch
from scipy.spatial.transform import Rotation
from torch_geometric.data import Batch

from molediff.domains.proteins.data import backbone_to_data
from molediff.domains.proteins.domain import ProteinDomain
from molediff.nn.egnn import EGNN


def _net():
    torch.manual_seed(0)
    net = EGNN(hidden=16, layers=2, edges="knn", k=8, normalization_factor=8.0,
               coords_range=5.0, distance_scale=100.0, **ProteinDomain().net_kwargs())
    for layer in net.layers:  # leave the near-identity initialisation: make updates visible
        torch.nn.init.normal_(layer.c_out.weight, std=0.5)
    return net.double()


def _inputs(n=30):
    cond = Batch.from_data_list([backbone_to_data(None, torch.zeros(n, dtype=torch.long))])
    cond.h, cond.edge_attr = cond.h.double(), cond.edge_attr.double()
    x = torch.randn(n, 12, dtype=torch.float64) * 3
    return x, cond


def test_equivariant_and_translation_invariant():
    net, (x, cond) = _net(), _inputs()
    c = torch.zeros(x.shape[0], 1, dtype=torch.float64)
    r = torch.as_tensor(Rotation.random(random_state=2).as_matrix())
    out = net(x, c, cond)
    rot = (x.reshape(-1, 4, 3) @ r.T).reshape(-1, 12)
    assert torch.allclose(net(rot, c, cond), (out.reshape(-1, 4, 3) @ r.T).reshape(-1, 12),
                          atol=1e-8)
    assert torch.allclose(net(x + torch.tensor([1.0, -2.0, 3.0]).repeat(4), c, cond), out,
                          atol=1e-8)


def test_update_is_centred_on_ca_only():
    net, (x, cond) = _net(), _inputs()
    out = net(x, torch.zeros(x.shape[0], 1, dtype=torch.float64), cond).reshape(-1, 4, 3)
    means = out.mean(0)
    assert means[1].abs().max() < 1e-10  # CA channel centred
    assert means[[0, 2, 3]].abs().max() > 1e-6  # N, C, O may shift against CA


def test_edges_grow_linearly_with_length():
    net = _net()
    counts = []
    for n in (100, 400):
        x, cond = _inputs(n)
        ei, _ = net.edge_builder(x.reshape(-1, 4, 3).mean(1), cond.batch, 1, cond)
        counts.append(ei.shape[1])
    assert counts[1] / 400 <= 8 + 16  # at most k + 2·window edges per residue
    assert counts[1] / counts[0] < 4.5  # ~4x for 4x the residues (all pairs: 16x)
