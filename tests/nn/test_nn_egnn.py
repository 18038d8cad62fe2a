"""EGNN-specific tests: same function as EDM's layer, edge caching."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from molediff.nn.egnn import EGNN, EGNNLayer
from molediff.nn.graphs import fully_connected_edges
from molediff.nn.reference_edm_egnn import EDMEquivariantBlock, pad_graph_batch


def _copy_edm_into_ours(edm: EDMEquivariantBlock, ours: EGNNLayer, h: int) -> None:
    gcl, upd = edm.gcls[0], edm.gcl_equiv
    with torch.no_grad():
        for first, node_lin, edge_lin in (
            (gcl.edge_mlp[0], ours.e_node, ours.e_edge),
            (upd.coord_mlp[0], ours.c_node, ours.c_edge),
        ):
            w = first.weight  # [h, 2h + e] acting on [h_i, h_j, e_ij]
            node_lin.weight.copy_(torch.cat([w[:, :h], w[:, h : 2 * h]], 0))
            node_lin.bias.copy_(torch.cat([first.bias, torch.zeros_like(first.bias)]))
            edge_lin.weight.copy_(w[:, 2 * h :])
        ours.e_out.load_state_dict(gcl.edge_mlp[2].state_dict())
        ours.att.load_state_dict(gcl.att_mlp[0].state_dict())
        ours.node_mlp.load_state_dict(gcl.node_mlp.state_dict())
        ours.c_mid.load_state_dict(upd.coord_mlp[2].state_dict())
        ours.c_out.weight.copy_(upd.coord_mlp[4].weight * 1000)  # make updates visible
        upd.coord_mlp[4].weight.copy_(ours.c_out.weight)


def test_layer_matches_edm_padded_layer():
    """Unpadded split-product layer == EDM's padded concat layer on the real atoms."""
    torch.manual_seed(0)
    hid = 32
    sizes = [5, 9, 2, 7]
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    n = batch.numel()
    h = torch.randn(n, hid, dtype=torch.float64)
    x = torch.randn(n, 3, dtype=torch.float64) * 2
    edm = EDMEquivariantBlock(hid).double()
    ours = EGNNLayer(hid, edge_dim=2).double()
    _copy_edm_into_ours(edm, ours, hid)

    # EDM layout: padded, all n_max^2 pairs, masks
    xh, node_mask, edge_mask = pad_graph_batch(torch.cat([x, h], 1), batch, 4)
    bsz, n_max, _ = xh.shape
    flat = xh.reshape(bsz * n_max, -1)
    rows = torch.arange(bsz * n_max).repeat_interleave(n_max)
    cols = (torch.arange(bsz)[:, None] * n_max + torch.arange(n_max)[None]).repeat_interleave(
        n_max, 0).reshape(-1)
    nm = node_mask.reshape(-1, 1)
    xe, he = flat[:, :3] * nm, flat[:, 3:] * nm
    d0 = ((xe[rows] - xe[cols]) ** 2).sum(1, keepdim=True)
    h_edm, x_edm = edm(he, xe, (rows, cols), nm, edge_mask, edge_attr=d0)
    real = nm[:, 0] > 0

    ei = fully_connected_edges(batch)
    src, dst = ei[0], ei[1]
    d = ((x[dst] - x[src]) ** 2).sum(1, keepdim=True)
    h_ours, x_ours = ours(h, x[:, None], src, dst, torch.cat([d, d], 1), 1.0)
    torch.testing.assert_close(h_ours, h_edm[real], atol=1e-10, rtol=0)
    torch.testing.assert_close(x_ours[:, 0], x_edm[real], atol=1e-10, rtol=0)
    assert (x_ours[:, 0] - x).abs().max() > 1e-3


def test_static_edges_are_cached_per_batch():
    net = EGNN(5, hidden=8, layers=1).double()
    cond = Batch.from_data_list([Data(num_nodes=4), Data(num_nodes=3)])
    x = torch.randn(7, 5, dtype=torch.float64)
    c = torch.zeros(7, 1, dtype=torch.float64)
    net(x, c, cond)
    first = net.edge_builder._cache[1]
    net(x * 2, c, cond)
    assert net.edge_builder._cache[1] is first  # reused, not rebuilt
    cond2 = Batch.from_data_list([Data(num_nodes=2), Data(num_nodes=5)])
    net(x, c, cond2)
    assert net.edge_builder._cache[1] is not first
    assert net.edge_builder._cache[1].shape[1] == 2 + 20


def test_edge_count_independent_of_padding():
    """Our graph has sum n(n-1) edges where EDM's padded layout has B * n_max^2."""
    sizes = torch.tensor([9, 29, 15])
    batch = torch.repeat_interleave(torch.arange(3), sizes)
    assert fully_connected_edges(batch).shape[1] == int((sizes * (sizes - 1)).sum())


def test_chunked_edge_pass_matches_one_pass(monkeypatch):
    """Sampling walks the edges in cache-sized chunks; the layer's output (vector
    channels, chiral update and all) equals the one-pass result, and training (autograd)
    keeps one pass."""
    import molediff.nn.egnn as egnn

    g = torch.Generator().manual_seed(0)
    n, e, h, v = 300, 4000, 16, 2
    layer = EGNNLayer(h, 5, vector_channels=v, chiral=True)
    hs, xs = torch.randn(n, h, generator=g), torch.randn(n, v, 3, generator=g) * 3
    src, dst = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    ea, scale = torch.randn(e, 5, generator=g), 1.0 / (1.0 + torch.rand(n, 1, generator=g))
    with torch.no_grad():
        h1, x1 = layer(hs, xs, src, dst, ea, scale)
        monkeypatch.setattr(egnn, "EDGE_CHUNK_BYTES", 4 * h * 1024)  # 1,024-edge chunks
        assert len(egnn.edge_chunks(e, h, grad=False)) == 4
        h2, x2 = layer(hs, xs, src, dst, ea, scale)
    assert torch.allclose(h1, h2, atol=1e-5) and torch.allclose(x1, x2, atol=1e-5)
    assert not torch.equal(x1, xs)  # the layer did move the coordinates
    assert len(egnn.edge_chunks(e, h, grad=True)) == 1


def test_shape_frame_knows_the_long_axis():
    from molediff.nn.egnn import shape_frame

    # two graphs: a rod along x (long) and a flat disc in the yz plane, shifted
    g = torch.Generator().manual_seed(0)
    rod = torch.randn(200, 3, generator=g, dtype=torch.float64) * torch.tensor([3.0, 0.3, 0.3])
    disc = torch.randn(100, 3, generator=g, dtype=torch.float64) * torch.tensor([0.1, 2.0, 2.0])
    pos = torch.cat([rod + 10.0, disc - 4.0])
    batch = torch.cat([torch.zeros(200, dtype=torch.long), torch.ones(100, dtype=torch.long)])
    r, sigma_r, inv = shape_frame(pos, batch, 2)
    assert r[:200].mean(0).abs().max() < 1e-9 and r[200:].mean(0).abs().max() < 1e-9
    # radial invariant: mean |r|^2 / tr Σ is exactly 1 per graph
    torch.testing.assert_close(inv[:200, 0].mean(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(inv[200:, 0].mean(), torch.tensor(1.0, dtype=torch.float64))
    # Σ r / tr Σ points along the rod's axis and inside the disc's plane
    along = sigma_r[:200].abs().mean(0)
    assert along[0] > 20 * along[1:].max()
    across = sigma_r[200:].abs().mean(0)
    assert across[0] < 0.05 * across[1:].min()
    # the principal invariant is larger at the rod's tips than at its waist
    tips = r[:200, 0].abs() > 3.0
    assert inv[:200, 1][tips].mean() > 4 * inv[:200, 1][~tips].mean()


def test_global_context_layer_starts_without_stretch_and_needs_the_graph():
    # the stretch head starts at zero, so only the node MLP's extra inputs differ
    torch.manual_seed(0)
    layer = EGNNLayer(8, 2, global_context=True).double()
    assert layer.stretch is not None and layer.stretch.weight.abs().max() == 0
    with pytest.raises(ValueError, match="global_context"):
        h = torch.randn(4, 8, dtype=torch.float64)
        x = torch.randn(4, 1, 3, dtype=torch.float64)
        src, dst = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3])
        layer(h, x, src, dst, torch.randn(3, 2, dtype=torch.float64), 1.0)
