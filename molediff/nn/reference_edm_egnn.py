"""Baseline: EDM's EGNN (Hoogeboom et al. 2022, ``egnn/egnn_new.py`` + ``EGNN_dynamics_QM9``)
re-written here from the published formulation, for benchmarks and layer-equivalence tests.

It keeps EDM's computational layout on purpose: molecules are padded to ``n_max`` atoms,
every padded batch element uses all ``n_max^2`` pairs (self-pairs and padding included,
removed by multiplying with ``edge_mask``), the first edge layer multiplies the
concatenation ``[h_i, h_j, d_ij, d0_ij]`` on every edge, and messages are summed with
``scatter_add_`` over an expanded index. Not used for training; see ``molediff.nn.egnn``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["EDMEGNN", "EDMDynamics", "EDMEquivariantBlock", "pad_graph_batch"]


def unsorted_segment_sum(data: Tensor, segment_ids: Tensor, num_segments: int,
                         normalization_factor: float, aggregation_method: str) -> Tensor:
    result = data.new_full((num_segments, data.size(1)), 0)
    idx = segment_ids.unsqueeze(-1).expand(-1, data.size(1))
    result.scatter_add_(0, idx, data)
    if aggregation_method == "sum":
        result = result / normalization_factor
    if aggregation_method == "mean":
        norm = data.new_zeros(result.shape)
        norm.scatter_add_(0, idx, data.new_ones(data.shape))
        norm[norm == 0] = 1
        result = result / norm
    return result


def coord2diff(x: Tensor, edge_index: tuple[Tensor, Tensor], norm_constant: float = 1.0):
    row, col = edge_index
    coord_diff = x[row] - x[col]
    radial = torch.sum(coord_diff**2, 1).unsqueeze(1)
    norm = torch.sqrt(radial + 1e-8)
    return radial, coord_diff / (norm + norm_constant)


class GCL(nn.Module):
    def __init__(self, hidden_nf: int, normalization_factor: float, aggregation_method: str,
                 edges_in_d: int, attention: bool) -> None:
        super().__init__()
        act = nn.SiLU()
        self.normalization_factor = normalization_factor
        self.aggregation_method = aggregation_method
        self.attention = attention
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden_nf + edges_in_d, hidden_nf), act,
                                      nn.Linear(hidden_nf, hidden_nf), act)
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden_nf, hidden_nf), act,
                                      nn.Linear(hidden_nf, hidden_nf))
        if attention:
            self.att_mlp = nn.Sequential(nn.Linear(hidden_nf, 1), nn.Sigmoid())

    def forward(self, h, edge_index, edge_attr, node_mask=None, edge_mask=None):
        row, col = edge_index
        mij = self.edge_mlp(torch.cat([h[row], h[col], edge_attr], dim=1))
        out = mij * self.att_mlp(mij) if self.attention else mij
        if edge_mask is not None:
            out = out * edge_mask
        agg = unsorted_segment_sum(out, row, h.size(0), self.normalization_factor,
                                   self.aggregation_method)
        h = h + self.node_mlp(torch.cat([h, agg], dim=1))
        if node_mask is not None:
            h = h * node_mask
        return h


class EquivariantUpdate(nn.Module):
    def __init__(self, hidden_nf: int, normalization_factor: float, aggregation_method: str,
                 edges_in_d: int, tanh: bool, coords_range: float) -> None:
        super().__init__()
        act = nn.SiLU()
        layer = nn.Linear(hidden_nf, 1, bias=False)
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(2 * hidden_nf + edges_in_d, hidden_nf), act,
                                       nn.Linear(hidden_nf, hidden_nf), act, layer)
        self.tanh = tanh
        self.coords_range = coords_range
        self.normalization_factor = normalization_factor
        self.aggregation_method = aggregation_method

    def forward(self, h, coord, edge_index, coord_diff, edge_attr, node_mask=None,
                edge_mask=None):
        row, col = edge_index
        inp = torch.cat([h[row], h[col], edge_attr], dim=1)
        if self.tanh:
            trans = coord_diff * torch.tanh(self.coord_mlp(inp)) * self.coords_range
        else:
            trans = coord_diff * self.coord_mlp(inp)
        if edge_mask is not None:
            trans = trans * edge_mask
        coord = coord + unsorted_segment_sum(trans, row, coord.size(0),
                                             self.normalization_factor,
                                             self.aggregation_method)
        if node_mask is not None:
            coord = coord * node_mask
        return coord


class EDMEquivariantBlock(nn.Module):
    """``inv_sublayers`` GCLs then one coordinate update; edge features ``[d^2, d0^2]``."""

    def __init__(self, hidden_nf: int, edge_feat_nf: int = 2, inv_sublayers: int = 1,
                 attention: bool = True, tanh: bool = True, coords_range: float = 15.0,
                 norm_constant: float = 1.0, normalization_factor: float = 1.0,
                 aggregation_method: str = "sum") -> None:
        super().__init__()
        self.norm_constant = norm_constant
        self.gcls = nn.ModuleList(
            GCL(hidden_nf, normalization_factor, aggregation_method, edge_feat_nf, attention)
            for _ in range(inv_sublayers)
        )
        self.gcl_equiv = EquivariantUpdate(hidden_nf, normalization_factor, aggregation_method,
                                           edge_feat_nf, tanh, coords_range)

    def forward(self, h, x, edge_index, node_mask=None, edge_mask=None, edge_attr=None):
        distances, coord_diff = coord2diff(x, edge_index, self.norm_constant)
        edge_attr = torch.cat([distances, edge_attr], dim=1)
        for gcl in self.gcls:
            h = gcl(h, edge_index, edge_attr, node_mask, edge_mask)
        x = self.gcl_equiv(h, x, edge_index, coord_diff, edge_attr, node_mask, edge_mask)
        if node_mask is not None:
            h = h * node_mask
        return h, x


class EDMEGNN(nn.Module):
    def __init__(self, in_node_nf: int, hidden_nf: int = 256, n_layers: int = 9,
                 attention: bool = True, tanh: bool = True, coords_range: float = 15.0,
                 norm_constant: float = 1.0, inv_sublayers: int = 1,
                 normalization_factor: float = 1.0, aggregation_method: str = "sum") -> None:
        super().__init__()
        self.embedding = nn.Linear(in_node_nf, hidden_nf)
        self.embedding_out = nn.Linear(hidden_nf, in_node_nf)
        self.blocks = nn.ModuleList(
            EDMEquivariantBlock(hidden_nf, 2, inv_sublayers, attention, tanh, coords_range,
                                norm_constant, normalization_factor, aggregation_method)
            for _ in range(n_layers)
        )

    def forward(self, h, x, edge_index, node_mask=None, edge_mask=None):
        distances, _ = coord2diff(x, edge_index)
        h = self.embedding(h)
        for block in self.blocks:
            h, x = block(h, x, edge_index, node_mask, edge_mask, edge_attr=distances)
        h = self.embedding_out(h)
        if node_mask is not None:
            h = h * node_mask
        return h, x


class EDMDynamics(nn.Module):
    """``EGNN_dynamics_QM9``: padded ``xh [B, n, 3 + F]`` plus time -> ``[vel, h]``."""

    def __init__(self, in_node_nf: int, hidden_nf: int = 256, n_layers: int = 9, **kw) -> None:
        super().__init__()
        self.egnn = EDMEGNN(in_node_nf + 1, hidden_nf, n_layers, **kw)  # +1: time feature
        self._edges: dict = {}

    def get_adj_matrix(self, n_nodes: int, batch_size: int) -> list[Tensor]:
        # all n^2 pairs per padded molecule, self-pairs included, cached like EDM's dict
        key = (n_nodes, batch_size)
        if key not in self._edges:
            rows, cols = [], []
            for b in range(batch_size):
                for i in range(n_nodes):
                    for j in range(n_nodes):
                        rows.append(i + b * n_nodes)
                        cols.append(j + b * n_nodes)
            self._edges[key] = [torch.LongTensor(rows), torch.LongTensor(cols)]
        return self._edges[key]

    def forward(self, t: Tensor, xh: Tensor, node_mask: Tensor, edge_mask: Tensor) -> Tensor:
        bs, n_nodes, dims = xh.shape
        edges = self.get_adj_matrix(n_nodes, bs)
        node_mask = node_mask.view(bs * n_nodes, 1)
        edge_mask = edge_mask.view(bs * n_nodes * n_nodes, 1)
        xh = xh.view(bs * n_nodes, -1).clone() * node_mask
        x = xh[:, 0:3].clone()
        h = xh[:, 3:].clone()
        h_time = t.view(bs, 1).repeat(1, n_nodes).view(bs * n_nodes, 1)
        h = torch.cat([h, h_time], dim=1)
        h_final, x_final = self.egnn(h, x, edges, node_mask=node_mask, edge_mask=edge_mask)
        vel = (x_final - x) * node_mask
        h_final = h_final[:, :-1]
        vel = vel.view(bs, n_nodes, -1)
        if torch.any(torch.isnan(vel)):  # EDM's NaN guard (a host sync every call)
            vel = torch.zeros_like(vel)
        nm = node_mask.view(bs, n_nodes, 1)
        mean = vel.sum(1, keepdim=True) / nm.sum(1, keepdim=True)
        vel = vel - mean * nm
        return torch.cat([vel, h_final.view(bs, n_nodes, -1)], dim=2)


def pad_graph_batch(x: Tensor, batch: Tensor, num_graphs: int):
    """Node rows ``[N, D]`` -> EDM's padded ``(xh [B, n_max, D], node_mask, edge_mask)``."""
    counts = torch.bincount(batch, minlength=num_graphs)
    n_max = int(counts.max())
    ptr = torch.cumsum(counts, 0) - counts
    pos = torch.arange(batch.numel()) - ptr[batch]
    xh = x.new_zeros(num_graphs, n_max, x.shape[1])
    xh[batch, pos] = x
    node_mask = (torch.arange(n_max)[None] < counts[:, None]).to(x.dtype)[..., None]
    edge_mask = node_mask * node_mask.transpose(1, 2)
    edge_mask = edge_mask * (1 - torch.eye(n_max, dtype=x.dtype))[None]
    return xh, node_mask, edge_mask.reshape(num_graphs * n_max * n_max, 1)
