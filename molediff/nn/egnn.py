"""E(n)-equivariant graph neural network (Satorras et al. 2021) as a denoiser ``net``.

The layer follows EDM's ``EquivariantBlock`` (Hoogeboom et al. 2022): an invariant
message/attention/node update (``GCL``) followed by an equivariant coordinate update
with ``tanh`` bounding and normalised coordinate differences. Two changes make it
several times cheaper without changing what it computes:

1. No padding. Edges exist only between real atoms of the same graph, so a QM9 batch has
   about half the edges of EDM's padded ``n_max^2`` layout.
2. Split first edge layer. ``W [h_i, h_j, e_ij] = W_a h_i + W_b h_j + W_e e_ij``: the two
   ``[H, H]`` products are computed once per *node* and gathered onto edges, so each edge
   only pays for the small ``W_e e_ij`` term. The same applies to the coordinate MLP.

Everything inside the layers is fixed-shape tensor algebra (gather, ``index_add_``):
no host synchronisation.

Several vector channels per node (``vector_channels = V``) are supported, e.g. a
residue's N, CA, C, O: edge features carry all ``V^2`` inter-node channel distances,
node features the ``V(V-1)/2`` intra-node distances, every channel gets its own
coordinate update from same-channel differences, and an intra-node mixing term lets
channels move relative to their node centre.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from molediff.nn.aggregation import aggregate
from molediff.nn.edge_builder import EdgeBuilder, EdgeMode
from molediff.nn.embeddings import ConditionEmbedding, NoiseEmbedding
from molediff.nn.graph_io import center_per_graph, parse_inputs, segment_mean

__all__ = ["EGNN", "EGNNLayer", "SHAPE_INVARIANTS", "edge_chunks", "shape_frame"]


def _pair_sqdist(x_dst: Tensor, x_src: Tensor) -> Tensor:
    """``[E, V, 3] x2 -> [E, V*V]`` squared distances between every channel pair (Å^2)."""
    d = x_dst[:, :, None, :] - x_src[:, None, :, :]
    return (d * d).sum(-1).flatten(1)


def _intra_sqdist(x: Tensor) -> Tensor:
    """``[N, V, 3] -> [N, V(V-1)/2]`` squared distances between a node's own channels."""
    v = x.shape[1]
    iu = torch.triu_indices(v, v, 1, device=x.device)
    d = x[:, iu[0]] - x[:, iu[1]]
    return (d * d).sum(-1)


class EGNNLayer(nn.Module):
    """One EDM-style equivariant block: invariant GCL, then coordinate update.

    Args:
        hidden: node feature width.
        edge_dim: width of the per-edge scalar input (distances, bond types, ...).
        vector_channels: coordinate channels per node (``V``).
        attention: gate each message by ``sigmoid(w . m_ij)``.
        tanh: bound the coordinate weights by ``coords_range * tanh(.)`` (Å per message).
        coords_range: see ``tanh``.
        norm_diff: divide coordinate differences by ``|x_i - x_j| + norm_constant``.
        norm_constant: Å, see ``norm_diff``.
        mix_channels: add the intra-node channel-mixing update (only used when ``V > 1``).
        chiral: add a coordinate update along ``(x_i - x_j) × u_i`` (``u_i``: the node's
            mean neighbour direction). A cross product is a pseudovector, so the layer is
            SE(3)- but not reflection-equivariant and can tell enantiomers apart.
        global_context: give every node its graph's context, so local (kNN) edges can
            still agree on a global shape: the node update also reads the graph's mean
            features and two invariants of the node's place in the graph's shape
            (``|r|^2 / tr Σ`` and ``r^T Σ r / (tr Σ)^2``, ``r`` from the centroid, ``Σ``
            the graph's coordinate covariance), and the coordinate update adds
            ``a_i Σ r_i / tr Σ + b_i r_i`` with ``a, b ∈ (-1, 1)`` from the node's
            features: an anisotropic stretch along the shape's principal axes.  All of it
            is E(3)-equivariant (``Σ → R Σ Rᵀ``) and costs O(N) per layer.
    """

    def __init__(
        self,
        hidden: int,
        edge_dim: int,
        vector_channels: int = 1,
        attention: bool = True,
        tanh: bool = True,
        coords_range: float = 15.0,
        norm_diff: bool = True,
        norm_constant: float = 1.0,
        mix_channels: bool = True,
        act: type[nn.Module] = nn.SiLU,
        chiral: bool = False,
        global_context: bool = False,
    ) -> None:
        super().__init__()
        h, v = hidden, vector_channels
        self.v = v
        self.chiral = chiral
        self.global_context = global_context
        self.attention = attention
        self.tanh = tanh
        self.coords_range = coords_range
        self.norm_diff = norm_diff
        self.norm_constant = norm_constant
        self.act = act()
        # invariant GCL: edge_mlp(Linear(2h+e, h), act, Linear(h, h), act), node_mlp
        self.e_node = nn.Linear(h, 2 * h)  # [W_a | W_b] applied per node
        self.e_edge = nn.Linear(edge_dim, h, bias=False)
        self.e_out = nn.Linear(h, h)
        self.att = nn.Linear(h, 1) if attention else None
        node_in = 3 * h + len(SHAPE_INVARIANTS) if global_context else 2 * h
        self.node_mlp = nn.Sequential(nn.Linear(node_in, h), act(), nn.Linear(h, h))
        self.stretch = nn.Linear(h, 2) if global_context else None
        if self.stretch is not None:  # start as the plain layer
            nn.init.zeros_(self.stretch.weight)
            nn.init.zeros_(self.stretch.bias)
        # equivariant update: coord_mlp(Linear(2h+e, h), act, Linear(h, h), act, Linear(h, V))
        self.c_node = nn.Linear(h, 2 * h)
        self.c_edge = nn.Linear(edge_dim, h, bias=False)
        self.c_mid = nn.Linear(h, h)
        self.c_out = nn.Linear(h, 2 * v if chiral else v, bias=False)
        torch.nn.init.xavier_uniform_(self.c_out.weight, gain=0.001)  # as EDM: start near identity
        self.mix = nn.Linear(h, v * v) if (mix_channels and v > 1) else None
        if self.mix is not None:
            nn.init.zeros_(self.mix.weight)
            nn.init.zeros_(self.mix.bias)

    def _edge_hidden(self, node_ab: tuple[Tensor, Tensor], edge_lin: nn.Linear, src: Tensor,
                     dst: Tensor, e: Tensor) -> Tensor:
        a, b = node_ab
        return self.act(a.index_select(0, dst) + b.index_select(0, src) + edge_lin(e))

    def _messages(self, ab: tuple[Tensor, Tensor], src: Tensor, dst: Tensor, e: Tensor) -> Tensor:
        m = self.act(self.e_out(self._edge_hidden(ab, self.e_edge, src, dst, e)))
        return m * torch.sigmoid(self.att(m)) if self.att is not None else m

    def _coord_terms(self, ab: tuple[Tensor, Tensor], x: Tensor, src: Tensor, dst: Tensor,
                     e: Tensor, u: Tensor | None) -> Tensor:
        """Per-edge coordinate updates ``[E, V, 3]`` (Å, before aggregation)."""
        c = self.act(self.c_mid(self._edge_hidden(ab, self.c_edge, src, dst, e)))
        w = self.c_out(c)  # [E, V] (or [E, 2V] when chiral)
        if self.tanh:
            w = torch.tanh(w) * self.coords_range
        diff = self._diff(x, src, dst)
        if u is None:
            return diff * w[..., None]
        w, w_chiral = w.split(self.v, dim=-1)
        turn = torch.linalg.cross(diff, u.index_select(0, dst), dim=-1)
        return diff * w[..., None] + turn * w_chiral[..., None]

    def _diff(self, x: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        diff = x.index_select(0, dst) - x.index_select(0, src)  # [E, V, 3]
        if self.norm_diff:
            # sqrt(r2 + 1e-8) keeps the gradient finite for coincident points
            norm = torch.sqrt((diff * diff).sum(-1, keepdim=True) + 1e-8)
            diff = diff / (norm + self.norm_constant)
        return diff

    def forward(self, h: Tensor, x: Tensor, src: Tensor, dst: Tensor, e: Tensor,
                scale: Tensor | float, graph: tuple[Tensor, int] | None = None
                ) -> tuple[Tensor, Tensor]:
        """``h [N, H]``, ``x [N, V, 3]`` (Å), edges ``src -> dst``, ``e [E, edge_dim]``;
        ``scale`` multiplies aggregated sums (``1/normalization_factor`` or ``1/deg``);
        ``graph``: ``(batch [N], num_graphs)``, needed with ``global_context``."""
        n = h.shape[0]
        parts = edge_chunks(src.shape[0], h.shape[1], x.requires_grad or h.requires_grad)
        ab = self.e_node(h).chunk(2, dim=-1)
        agg = _chunked_sum(lambda sl: self._messages(ab, src[sl], dst[sl], e[sl]),
                           dst, parts, (n, h.shape[1]), h)
        if self.global_context:
            if graph is None:
                raise ValueError("global_context needs graph=(batch, num_graphs)")
            batch, num_graphs = graph
            r, sigma_r, invariants = shape_frame(x.mean(1), batch, num_graphs)
            pooled = segment_mean(h, batch, num_graphs).index_select(0, batch)
            h = h + self.node_mlp(torch.cat([h, agg * scale, pooled, invariants], dim=-1))
            a, b = torch.tanh(self.stretch(h)).unbind(-1)
            x = x + (a[:, None] * sigma_r + b[:, None] * r)[:, None, :]
        else:
            h = h + self.node_mlp(torch.cat([h, agg * scale], dim=-1))

        vscale = scale if isinstance(scale, float) else scale[..., None]
        u = None
        if self.chiral:
            u = _chunked_sum(lambda sl: self._diff(x, src[sl], dst[sl]), dst, parts,
                             (n, self.v, 3), x) * vscale
            u = u / (torch.sqrt((u * u).sum(-1, keepdim=True) + 1e-8) + 1.0)
        ab = self.c_node(h).chunk(2, dim=-1)
        dx = _chunked_sum(lambda sl: self._coord_terms(ab, x, src[sl], dst[sl], e[sl], u),
                          dst, parts, (n, self.v, 3), x)
        x = x + dx * vscale
        if self.mix is not None:
            rel = x - x.mean(1, keepdim=True)
            mix = torch.tanh(self.mix(h)).view(n, self.v, self.v)
            x = x + torch.einsum("nvw,nwk->nvk", mix, rel)
        return h, x


#: names of the per-node shape invariants :func:`shape_frame` returns
SHAPE_INVARIANTS: tuple[str, ...] = ("radial", "principal")


def shape_frame(pos: Tensor, batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor, Tensor]:
    """Where each node sits in its graph's shape.

    ``pos [N, 3]`` -> ``r [N, 3]`` (from the graph's centroid), ``Σ r / tr Σ [N, 3]``
    (``Σ``: the graph's 3×3 coordinate covariance; equivariant, longest along the
    principal axis) and invariants ``[N, 2]``: ``|r|^2 / tr Σ`` and
    ``r^T Σ r / (tr Σ)^2``.  Degenerate graphs (one node) give zeros."""
    r = pos - segment_mean(pos, batch, num_graphs).index_select(0, batch)
    cov = segment_mean(r[:, :, None] * r[:, None, :], batch, num_graphs)  # [B, 3, 3]
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-8)  # [B]
    cov_n = (cov / trace[:, None, None]).index_select(0, batch)
    sigma_r = torch.einsum("nij,nj->ni", cov_n, r)
    t = trace.index_select(0, batch)[:, None]
    invariants = torch.cat([(r * r).sum(-1, keepdim=True) / t,
                            (r * sigma_r).sum(-1, keepdim=True) / t], dim=-1)
    return r, sigma_r, invariants


#: bytes of one ``[edges, hidden]`` float tensor per chunk when sampling: a few such
#: tensors live at once, and together they stay inside a CPU's last-level cache
EDGE_CHUNK_BYTES = 2 ** 22


def edge_chunks(num_edges: int, width: int, grad: bool) -> list[slice]:
    """Slices over the edges for one layer pass: a single slice when training (autograd
    keeps every activation anyway) or when the edges are few; else chunks of about
    :data:`EDGE_CHUNK_BYTES` per ``[chunk, width]`` tensor. Measured on the 2-core CPU
    (32 MiB L3; bundled point-cloud model, k = 10, hidden 32, one thread): one shape of
    16,384 points took 23–25 s in one pass over the edges, 2.8× the 8.6–8.8 s of 8,192
    points, because each ``[E, H]`` tensor outgrew the cache; chunked: 12–14 s against
    6.9 s, i.e. linear. 2,048 points (one chunk) are unchanged."""
    size = max(1024, EDGE_CHUNK_BYTES // (4 * max(1, width)))
    if (grad and torch.is_grad_enabled()) or num_edges <= size:
        return [slice(0, num_edges)]
    return [slice(i, min(i + size, num_edges)) for i in range(0, num_edges, size)]


def _chunked_sum(per_edge, dst: Tensor, parts: list[slice], shape: tuple[int, ...],
                 like: Tensor) -> Tensor:
    """``sum_edges per_edge(edges)`` onto ``dst`` -> ``shape``, one chunk at a time."""
    if len(parts) == 1:
        return aggregate(per_edge(parts[0]), dst, shape[0])
    out = like.new_zeros(shape)
    for sl in parts:
        out.index_add_(0, dst[sl], per_edge(sl))
    return out


class EGNN(nn.Module):
    """EGNN denoiser network for graphs: ``net(x_in, c_noise, cond) -> F``.

    ``x_in [N, in_features]``: ``V = vector_channels`` coordinate channels in columns
    ``0:3V`` (Å) and ``in_features - 3V`` scalar features (e.g. one-hot atom types) after.
    ``F`` has the same shape: columns ``0:3V`` are the coordinate update
    ``x_out - x_in`` centred per graph (E(3)-equivariant, translation invariant), the rest
    are invariant feature predictions.

    ``cond`` is a PyG ``Batch``/``Data`` with ``batch``; optional ``h [N, cond_features]``
    (node conditioning, e.g. residue types), ``y [B, graph_cond_features]`` (graph
    conditioning), ``edge_index`` + ``edge_attr [E, edge_features]`` (e.g. bond types,
    united with the built edges), ``chain [N]`` (for ``sequence_neighbours``).

    Args:
        in_features: width ``D`` of ``x_in`` (coordinates included).
        cond_features: width of ``cond.h`` (0: none).
        vector_channels: ``V`` coordinate channels per node.
        hidden: node feature width (EDM QM9: 256).
        layers: equivariant blocks (EDM QM9: 9).
        edges: ``"full" | "radius" | "knn" | "given"``.
        cutoff: Å for ``"radius"``.
        chiral: SE(3)-only coordinate updates that can tell mirror images apart (see
            :class:`EGNNLayer`); off gives EDM's E(3)-equivariant network.
        k: neighbours for ``"knn"``.
        edge_features: width of ``cond.edge_attr`` (0: no given edges unless ``"given"``).
        sequence_neighbours: add ``i +- 1..s`` chain edges with offset one-hot features.
        graph_cond_features: width of ``cond.y`` (0: none).
        attention, tanh, coords_range, norm_diff, norm_constant: as in EDM.
        aggregation: ``"sum"`` (divided by ``normalization_factor``) or ``"mean"``.
        normalization_factor: divisor of summed messages (EDM QM9: 1).
        initial_distances: add the input's squared distances as edge features (EDM).
        distance_scale: squared distances enter edge features divided by this (Å^2).
        global_context: every layer also reads graph-level context (mean features,
            the node's place in the graph's shape) and can stretch the graph along its
            principal axes (see :class:`EGNNLayer`); for shapes, where kNN edges alone
            see only a neighbourhood.
        centre_channel: ``None`` (default) centres the coordinate update per column, as
            ``GraphSpace`` centres each channel; an index ``c`` subtracts channel ``c``'s
            mean update from every channel instead (one shift per graph), so the channels
            can move relative to each other as a whole (a backbone's N centroid is not its
            CA centroid; pair with a space that centres every channel on channel ``c``).
    """

    def __init__(
        self,
        in_features: int,
        cond_features: int = 0,
        vector_channels: int = 1,
        hidden: int = 256,
        layers: int = 9,
        edges: EdgeMode = "full",
        cutoff: float = 5.0,
        k: int = 16,
        edge_features: int = 0,
        sequence_neighbours: int = 0,
        graph_cond_features: int = 0,
        attention: bool = True,
        tanh: bool = True,
        coords_range: float = 15.0,
        norm_diff: bool = True,
        norm_constant: float = 1.0,
        aggregation: Literal["sum", "mean"] = "sum",
        normalization_factor: float = 1.0,
        initial_distances: bool = True,
        distance_scale: float = 1.0,
        mix_channels: bool = True,
        chiral: bool = False,
        centre_channel: int | None = None,
        global_context: bool = False,
    ) -> None:
        super().__init__()
        v = vector_channels
        self.global_context = global_context
        if centre_channel is not None and not 0 <= centre_channel < v:
            raise ValueError(f"centre_channel={centre_channel} must be in [0, {v})")
        self.centre_channel = centre_channel
        if v < 1 or in_features < 3 * v:
            raise ValueError(f"in_features={in_features} must be >= 3 * vector_channels={3 * v}")
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be sum|mean, got {aggregation!r}")
        self.in_features = in_features
        self.vector_channels = v
        self.scalar_features = in_features - 3 * v
        self.aggregation = aggregation
        self.normalization_factor = float(normalization_factor)
        self.initial_distances = initial_distances
        self.distance_scale = float(distance_scale)
        self.edge_builder = EdgeBuilder(edges, cutoff, k, edge_features, sequence_neighbours)
        intra = v * (v - 1) // 2
        # a constant 1 is fed when there are no node scalars (as EDM does)
        self.embed = nn.Linear(max(self.scalar_features + intra, 1), hidden)
        self.noise = NoiseEmbedding(hidden)
        self.cond = ConditionEmbedding(hidden, cond_features, graph_cond_features)
        edge_dim = v * v * (2 if initial_distances else 1) + self.edge_builder.attr_dim
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, edge_dim, v, attention, tanh, coords_range, norm_diff,
                      norm_constant, mix_channels, chiral=chiral, global_context=global_context)
            for _ in range(layers)
        )
        self.out = nn.Linear(hidden, self.scalar_features) if self.scalar_features else None

    def forward(self, x_in: Tensor, c_noise: Tensor, cond) -> Tensor:
        inp = parse_inputs(x_in, c_noise, cond, self.in_features, self.vector_channels)
        x0, batch, n = inp.x, inp.batch, x_in.shape[0]
        centre = x0.mean(1)  # node position used to build spatial edges
        edge_index, static = self.edge_builder(centre, batch, inp.num_graphs, cond)
        src, dst = edge_index[0], edge_index[1]

        node_in = inp.feats
        if self.vector_channels > 1:
            node_in = torch.cat([node_in, _intra_sqdist(x0) / self.distance_scale], -1)
        if node_in.shape[1] == 0:
            node_in = x_in.new_ones(n, 1)
        h = self.embed(node_in) + self.noise(inp.c_noise)
        hc = self.cond(cond, batch, n, x_in.dtype)
        if hc is not None:
            h = h + hc

        if self.aggregation == "mean":
            deg = torch.zeros(n, 1, dtype=x_in.dtype, device=x_in.device)
            deg.index_add_(0, dst, torch.ones(dst.shape[0], 1, dtype=x_in.dtype,
                                              device=x_in.device))
            scale: Tensor | float = 1.0 / deg.clamp_min(1.0)
        else:
            scale = 1.0 / self.normalization_factor

        d0 = _pair_sqdist(x0.index_select(0, dst), x0.index_select(0, src)) / self.distance_scale
        x = x0
        for layer in self.layers:
            d = _pair_sqdist(x.index_select(0, dst), x.index_select(0, src)) / self.distance_scale
            parts = [d, d0] if self.initial_distances else [d]
            if static.shape[1]:
                parts.append(static)
            h, x = layer(h, x, src, dst, torch.cat(parts, -1), scale,
                         (batch, inp.num_graphs) if self.global_context else None)

        if self.centre_channel is None:
            delta = center_per_graph((x - x0).reshape(n, 3 * self.vector_channels), batch,
                                     inp.num_graphs)
        else:
            d = x - x0  # [N, V, 3]
            shift = segment_mean(d[:, self.centre_channel], batch, inp.num_graphs)[batch]
            delta = (d - shift[:, None, :]).reshape(n, 3 * self.vector_channels)
        if self.out is None:
            return delta
        return torch.cat([delta, self.out(h)], dim=-1)
