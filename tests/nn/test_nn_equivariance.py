"""Symmetry and robustness tests shared by EGNN and the tensor-field network (float64)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from molediff.nn.egnn import EGNN
from molediff.nn.tensorfield import TensorFieldNetwork

TOL = 1e-6
FEAT = 4

# (name, factory(v, cond_features, edge_features) -> net, v, cond_features, edge_features)
CONFIGS = {
    "egnn_full": (lambda: EGNN(3 + FEAT, hidden=16, layers=2), 1, 0, 0),
    "egnn_knn_mean_cond": (
        lambda: EGNN(3 + FEAT, cond_features=3, hidden=16, layers=2, edges="knn", k=3,
                     aggregation="mean", attention=False, tanh=False), 1, 3, 0),
    "egnn_radius_bonds": (
        lambda: EGNN(3 + FEAT, hidden=16, layers=2, edges="radius", cutoff=3.0,
                     edge_features=2), 1, 0, 2),
    "egnn_v4_seq": (
        lambda: EGNN(12 + FEAT, cond_features=2, vector_channels=4, hidden=16, layers=2,
                     edges="knn", k=4, sequence_neighbours=2), 4, 2, 0),
    "egnn_given": (lambda: EGNN(3 + FEAT, hidden=16, layers=2, edges="given",
                                edge_features=2), 1, 0, 2),
    "egnn_knn_global": (
        lambda: EGNN(3 + FEAT, hidden=16, layers=2, edges="knn", k=3, global_context=True),
        1, 0, 0),
    "egnn_v4_global": (
        lambda: EGNN(12 + FEAT, vector_channels=4, hidden=16, layers=2, edges="knn", k=3,
                     global_context=True), 4, 0, 0),
    "tfn_radius": (
        lambda: TensorFieldNetwork(3 + FEAT, scalars=8, vectors=4, tensors=2, layers=2,
                                   edges="radius", cutoff=3.0), 1, 0, 0),
    "tfn_knn_v4_cond": (
        lambda: TensorFieldNetwork(12 + FEAT, cond_features=2, vector_channels=4, scalars=8,
                                   vectors=4, tensors=2, layers=2, edges="knn", k=4), 4, 2, 0),
    "tfn_full_bonds_coords_only": (
        lambda: TensorFieldNetwork(3, scalars=8, vectors=4, tensors=0, layers=2, lmax=1,
                                   edges="full", edge_features=2), 1, 0, 2),
}
SIZES = [6, 1, 9, 4]


def _setup(eq, name, sizes=SIZES, seed=0):
    factory, v, cf, ef = CONFIGS[name]
    torch.manual_seed(seed)
    net = factory().double()
    # randomise the near-zero output init so that coordinate updates are not trivially 0
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    feat = net.in_features - 3 * v
    x, c, cond = eq.make_batch(sizes, feat, v=v, cond_features=cf, edge_features=ef, seed=seed)
    return net, v, x, c, cond


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("reflect", [False, True])
def test_e3_equivariance(eq, name, reflect):
    net, v, x, c, cond = _setup(eq, name)
    out = net(x, c, cond)
    assert out.shape == x.shape
    assert out[:, : 3 * v].abs().max() > 1e-4, "coordinate output is trivially zero"
    g = torch.Generator().manual_seed(7)
    q = eq.random_orthogonal(reflect, g)
    t = torch.randn(3, generator=g, dtype=torch.float64) * 5
    out_rot = net(eq.rotate(x, q, t, v), c, cond)
    torch.testing.assert_close(out_rot, eq.rotate_out(out, q, v), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_permutation_equivariance(eq, name):
    if "seq" in name:
        pytest.skip("sequence-neighbour edges depend on node order by design")
    net, v, x, c, cond = _setup(eq, name)
    out = net(x, c, cond)
    perms, glob = eq.graph_perms(SIZES, seed=3)
    cond_p = eq.permute_cond(cond, perms)
    out_p = net(x[glob], c[glob], cond_p)
    torch.testing.assert_close(out_p, out[glob], atol=TOL, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_graphs_do_not_interact_and_outputs_centred(eq, name):
    net, v, x, c, cond = _setup(eq, name)
    out = net(x, c, cond)
    batch = cond.batch
    for g in range(len(SIZES)):
        m = batch == g
        mean = out[m, : 3 * v].mean(0)
        assert mean.abs().max() < 1e-10
    # move graph 0 far away and change its features: the other graphs must not notice
    x2 = x.clone()
    m0 = batch == 0
    x2[m0] = x2[m0] * 3.0 + 1.0
    out2 = net(x2, c, cond)
    torch.testing.assert_close(out2[~m0], out[~m0], atol=1e-12, rtol=0)
    assert (out2[m0] - out[m0]).abs().max() > 1e-6
    # a graph evaluated alone gives the same result as inside the batch
    datas = cond.to_data_list()
    alone = Batch.from_data_list([datas[2]])
    m2 = batch == 2
    torch.testing.assert_close(net(x[m2], c[m2], alone), out[m2], atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_degenerate_inputs_are_finite(eq, name):
    factory, v, cf, ef = CONFIGS[name]
    torch.manual_seed(0)
    net = factory().double()
    # single-atom graphs and an empty graph in the middle of the batch
    net_, v, x, c, cond = _setup(eq, name, sizes=[1, 0, 1, 3])
    x = x.clone().requires_grad_(True)
    out = net(x, c, cond)
    assert torch.isfinite(out).all()
    single = torch.tensor([0, 1])  # nodes of the two single-atom graphs
    assert out[single, : 3 * v].abs().max() == 0  # centred update of a lone atom is zero
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    # coincident points: every coordinate the same
    x0 = x.detach().clone()
    x0[:, : 3 * v] = 1.5
    x0.requires_grad_(True)
    out = net(x0, c, cond)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert torch.isfinite(x0.grad).all()
    # a fully empty batch
    empty = Batch.from_data_list([Data(num_nodes=0)])
    if ef:
        empty.edge_index = torch.zeros(2, 0, dtype=torch.long)
        empty.edge_attr = torch.zeros(0, ef, dtype=torch.float64)
    if cf:
        empty.h = torch.zeros(0, cf, dtype=torch.float64)
    empty.batch = torch.zeros(0, dtype=torch.long)
    e_out = net(torch.zeros(0, net.in_features, dtype=torch.float64),
                torch.zeros(0, 1, dtype=torch.float64), empty)
    assert e_out.shape == (0, net.in_features)


@pytest.mark.parametrize("name", ["egnn_radius_bonds", "tfn_knn_v4_cond"])
def test_bad_shapes_raise_value_error(eq, name):
    net, v, x, c, cond = _setup(eq, name)
    with pytest.raises(ValueError, match="x_in"):
        net(x[:, :-1], c, cond)
    with pytest.raises(ValueError, match="c_noise"):
        net(x, c[:-1], cond)
    with pytest.raises(ValueError, match="batch"):
        net(x[:-1], c[:-1], cond)
    bad = cond.clone()
    if "h" in bad:
        bad.h = bad.h[:, :-1]
        with pytest.raises(ValueError, match="cond.h"):
            net(x, c, bad)
    if "edge_attr" in bad:
        bad.edge_attr = bad.edge_attr[:, :1]
        with pytest.raises(ValueError, match="edge_attr"):
            net(x, c, bad)
