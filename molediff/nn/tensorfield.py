"""Tensor-field network (Thomas et al. 2018 / NequIP-style) on e3nn as a denoiser ``net``.

Node features are direct sums of O(3) irreps (``0e`` scalars, ``1o`` vectors, ``2e``
rank-2 tensors). Each layer convolves them with the spherical harmonics of the edge
vectors through a depthwise (``uvu``) tensor product whose path weights come from a
radial MLP of invariant edge features, mixes channels with an equivariant linear layer,
adds a self-connection and applies a gated nonlinearity (scalars: SiLU; higher ``l``:
multiplied by sigmoid-activated scalar gates). Only parity-respecting paths are used,
so the network is E(3)-equivariant, reflections included.

The last layer outputs ``F x 0e + V x 1o``: the scalars are the feature predictions and
the ``V`` vectors (Å) are the coordinate updates, centred per graph. Positions are not
updated between layers (unlike EGNN), so geometry is computed once per call.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import Gate
from torch import Tensor, nn

from molediff.nn.aggregation import aggregate
from molediff.nn.edge_builder import EdgeBuilder, EdgeMode
from molediff.nn.embeddings import ConditionEmbedding, NoiseEmbedding
from molediff.nn.graph_io import center_per_graph, parse_inputs

__all__ = ["TensorFieldNetwork", "TensorFieldConv"]


def _uvu_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, keep: o3.Irreps):
    """Depthwise tensor product ``in x sh -> mid`` restricted to the irreps in ``keep``."""
    wanted = {ir for _, ir in keep}
    mid, instr = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instr.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    mid = o3.Irreps(mid)
    mid_sorted, perm, _ = mid.sort()
    instr = [(a, b, perm[c], m, t) for a, b, c, m, t in instr]
    tp = o3.TensorProduct(irreps_in, irreps_sh, mid_sorted, instr,
                          shared_weights=False, internal_weights=False)
    return tp, mid_sorted


class TensorFieldConv(nn.Module):
    """One equivariant convolution: ``h_i' = act(Lin(sum_j TP(h_j, Y(r_ij); R(e_ij))) + SC(h_i))``.

    Args:
        irreps_in: input node irreps.
        irreps_out: output node irreps (before the gate, if ``gate`` is given).
        irreps_sh: spherical-harmonic irreps of the edge direction.
        edge_dim: width of the invariant edge features fed to the radial MLP.
        radial_hidden: hidden width of the radial MLP.
        avg_num_neighbors: messages are summed and divided by ``sqrt`` of this.
        gate: when True, ``irreps_out`` must be ``scalars + gated`` and a Gate is applied.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps,
                 edge_dim: int, radial_hidden: int, avg_num_neighbors: float,
                 gate: bool = True) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        irreps_out = o3.Irreps(irreps_out)
        if gate:
            scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
            gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
            gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
            self.gate = Gate(scalars, [nn.functional.silu] * len(scalars),
                             gates, [torch.sigmoid] * len(gates), gated)
            pre = self.gate.irreps_in
        else:
            self.gate = None
            pre = irreps_out
        self.irreps_out = irreps_out
        self.lin_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp, mid = _uvu_tensor_product(self.irreps_in, o3.Irreps(irreps_sh), pre)
        self.radial = nn.Sequential(
            nn.Linear(edge_dim, radial_hidden), nn.SiLU(),
            nn.Linear(radial_hidden, radial_hidden), nn.SiLU(),
            nn.Linear(radial_hidden, self.tp.weight_numel),
        )
        self.lin_out = o3.Linear(mid, pre)
        self.self_connection = o3.Linear(self.irreps_in, pre)
        self.inv_sqrt_nn = 1.0 / math.sqrt(avg_num_neighbors)
        self.residual = self.irreps_in == irreps_out

    def forward(self, h: Tensor, sh: Tensor, edge_scalars: Tensor, envelope: Tensor | None,
                src: Tensor, dst: Tensor) -> Tensor:
        w = self.radial(edge_scalars)
        if envelope is not None:
            w = w * envelope  # smooth decay to zero at the cutoff
        msg = self.tp(self.lin_in(h).index_select(0, src), sh, w)
        out = self.lin_out(aggregate(msg, dst, h.shape[0], self.inv_sqrt_nn))
        out = out + self.self_connection(h)
        if self.gate is not None:
            out = self.gate(out)
        return h + out if self.residual else out


class TensorFieldNetwork(nn.Module):
    """e3nn tensor-field denoiser network: ``net(x_in, c_noise, cond) -> F``.

    Same input/output/conditioning contract as :class:`molediff.nn.egnn.EGNN`: ``x_in
    [N, in_features]`` with ``V = vector_channels`` coordinate channels in ``0:3V`` (Å)
    and scalar features after; ``F`` has the same shape with the coordinate update
    centred per graph. ``cond`` is a PyG batch (``batch``; optional ``h``, ``y``,
    ``edge_index``/``edge_attr``, ``chain``).

    Args:
        in_features, cond_features, vector_channels, edges, cutoff, k, edge_features,
        sequence_neighbours, graph_cond_features: as in ``EGNN``.
        scalars, vectors, tensors: multiplicities of ``0e``, ``1o``, ``2e`` hidden irreps.
        layers: gated convolutions before the output convolution.
        lmax: max degree of the edge spherical harmonics (1 or 2).
        num_basis: Gaussian radial basis functions on ``[0, rbf_max]`` Å.
        rbf_max: Å; defaults to ``cutoff`` for radius edges and 10 Å otherwise.
        radial_hidden: width of the radial MLPs.
        avg_num_neighbors: message normaliser; defaults to ``k`` for kNN and 16 otherwise.
        distance_scale: channel-pair squared distances enter edge features divided by
            this (Å^2); only used when ``vector_channels > 1``.
    """

    def __init__(
        self,
        in_features: int,
        cond_features: int = 0,
        vector_channels: int = 1,
        scalars: int = 64,
        vectors: int = 16,
        tensors: int = 8,
        layers: int = 4,
        lmax: int = 2,
        edges: EdgeMode = "radius",
        cutoff: float = 5.0,
        k: int = 16,
        edge_features: int = 0,
        sequence_neighbours: int = 0,
        graph_cond_features: int = 0,
        num_basis: int = 16,
        rbf_max: float | None = None,
        radial_hidden: int = 64,
        avg_num_neighbors: float | None = None,
        distance_scale: float = 10.0,
    ) -> None:
        super().__init__()
        v = vector_channels
        if v < 1 or in_features < 3 * v:
            raise ValueError(f"in_features={in_features} must be >= 3 * vector_channels={3 * v}")
        if lmax not in (1, 2):
            raise ValueError(f"lmax must be 1 or 2, got {lmax}")
        self.in_features = in_features
        self.vector_channels = v
        self.scalar_features = in_features - 3 * v
        self.edges = edges
        self.cutoff = float(cutoff)
        self.num_basis = num_basis
        self.rbf_max = float(rbf_max) if rbf_max is not None else (
            self.cutoff if edges == "radius" else 10.0)
        self.distance_scale = float(distance_scale)
        if avg_num_neighbors is None:
            avg_num_neighbors = float(k) if edges == "knn" else 16.0
        self.edge_builder = EdgeBuilder(edges, cutoff, k, edge_features, sequence_neighbours)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        intra = v * (v - 1) // 2
        # a constant 1 is fed when there are no node scalars (as EDM does)
        self.embed = nn.Linear(max(self.scalar_features + intra, 1), scalars)
        self.noise = NoiseEmbedding(scalars)
        self.cond = ConditionEmbedding(scalars, cond_features, graph_cond_features)

        irreps_in = o3.Irreps(f"{scalars}x0e") + (o3.Irreps(f"{v}x1o") if v > 1 else o3.Irreps(""))
        hidden = o3.Irreps(f"{scalars}x0e + {vectors}x1o")
        if lmax >= 2 and tensors:
            hidden = hidden + o3.Irreps(f"{tensors}x2e")
        edge_dim = num_basis + (v * v if v > 1 else 0) + self.edge_builder.attr_dim
        convs = []
        irr = irreps_in.simplify()
        for _ in range(layers):
            convs.append(TensorFieldConv(irr, hidden, self.irreps_sh, edge_dim, radial_hidden,
                                         avg_num_neighbors, gate=True))
            irr = hidden
        out_irreps = (o3.Irreps(f"{self.scalar_features}x0e") if self.scalar_features
                      else o3.Irreps("")) + o3.Irreps(f"{v}x1o")
        convs.append(TensorFieldConv(irr, out_irreps, self.irreps_sh, edge_dim, radial_hidden,
                                     avg_num_neighbors, gate=False))
        self.convs = nn.ModuleList(convs)

    def forward(self, x_in: Tensor, c_noise: Tensor, cond) -> Tensor:
        inp = parse_inputs(x_in, c_noise, cond, self.in_features, self.vector_channels)
        x, batch, n, v = inp.x, inp.batch, x_in.shape[0], self.vector_channels
        centre = x.mean(1)
        edge_index, static = self.edge_builder(centre, batch, inp.num_graphs, cond)
        src, dst = edge_index[0], edge_index[1]

        vec = centre.index_select(0, src) - centre.index_select(0, dst)  # r_ij = x_j - x_i, Å
        # normalize=True uses a clamped norm, so coincident points give finite zeros
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        dist = torch.sqrt((vec * vec).sum(-1) + 1e-12)
        parts = [soft_one_hot_linspace(dist, 0.0, self.rbf_max, self.num_basis,
                                       basis="gaussian", cutoff=False)
                 * self.num_basis ** 0.5]
        if v > 1:
            d = x.index_select(0, dst)[:, :, None] - x.index_select(0, src)[:, None]
            parts.append((d * d).sum(-1).flatten(1) / self.distance_scale)
        if static.shape[1]:
            parts.append(static)
        edge_scalars = torch.cat(parts, -1)
        envelope = None
        if self.edges == "radius":
            u = (dist / self.cutoff).clamp(max=1.0)
            envelope = (0.5 * (torch.cos(math.pi * u) + 1.0))[:, None]

        node_in = inp.feats
        rel = x - x.mean(1, keepdim=True)
        if v > 1:
            iu = torch.triu_indices(v, v, 1, device=x.device)
            dd = x[:, iu[0]] - x[:, iu[1]]
            node_in = torch.cat([node_in, (dd * dd).sum(-1) / self.distance_scale], -1)
        if node_in.shape[1] == 0:
            node_in = x_in.new_ones(n, 1)
        h = self.embed(node_in) + self.noise(inp.c_noise)
        hc = self.cond(cond, batch, n, x_in.dtype)
        if hc is not None:
            h = h + hc
        if v > 1:
            h = torch.cat([h, rel.reshape(n, 3 * v)], -1)

        for conv in self.convs:
            h = conv(h, sh, edge_scalars, envelope, src, dst)
        s = self.scalar_features
        delta = center_per_graph(h[:, s:], batch, inp.num_graphs)
        if s == 0:
            return delta
        return torch.cat([delta, h[:, :s]], dim=-1)
