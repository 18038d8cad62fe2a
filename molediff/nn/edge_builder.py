"""Per-call edge construction shared by the graph denoisers.

An :class:`EdgeBuilder` turns node positions and a PyG conditioning batch into one
sorted edge list with static edge attributes:

``edge_attr = [given edge_attr (edge_features) | sequence-offset one-hot (2 * sequence_neighbours)]``

Spatial edges (``"full"``, ``"radius"``, ``"knn"``) are united with the given edges
(``cond.edge_index``, e.g. bonds) and sequence-neighbour edges; an edge absent from a
set gets zeros in that set's columns. Edges that do not depend on positions (``"full"``,
``"given"``) are cached per ``cond`` so that a sampler calling the network hundreds of
times on the same batch builds them once.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from molediff.nn.graphs import (
    check_sorted_batch,
    fully_connected_edges,
    knn_edges,
    radius_edges,
    sequence_edges,
    union_edges,
)

EdgeMode = Literal["full", "radius", "knn", "given"]

__all__ = ["EdgeBuilder", "EdgeMode", "get_num_graphs"]


def get_num_graphs(cond, batch: Tensor) -> int:
    """Number of graphs: ``cond.num_graphs`` when available (keeps empty trailing graphs)."""
    ng = getattr(cond, "num_graphs", None)
    if isinstance(ng, int):
        return ng
    return int(batch.max()) + 1 if batch.numel() else 0


def _same(a, b) -> bool:
    # tensors are compared by identity (plus their in-place version counter in the key)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a is b
    return a == b


class EdgeBuilder(nn.Module):
    """Builds ``(edge_index [2, E], edge_attr [E, attr_dim])`` for a network call.

    Args:
        edges: ``"full"`` (all pairs within each graph), ``"radius"`` (``cutoff`` Å),
            ``"knn"`` (``k`` nearest) or ``"given"`` (only ``cond.edge_index``).
        cutoff: radius in Å for ``"radius"``.
        k: neighbours per node for ``"knn"``.
        edge_features: width of ``cond.edge_attr``; when > 0 the given edges
            (``cond.edge_index``) are united with the spatial ones.
        sequence_neighbours: when > 0 add edges ``i <-> i +- 1..s`` (same graph and same
            ``cond.chain`` if present) flagged by a one-hot of the signed offset.
        chunk_size: target nodes per block in radius / kNN search (memory knob).
    """

    def __init__(
        self,
        edges: EdgeMode = "full",
        cutoff: float = 5.0,
        k: int = 16,
        edge_features: int = 0,
        sequence_neighbours: int = 0,
        chunk_size: int = 2048,
    ) -> None:
        super().__init__()
        if edges not in ("full", "radius", "knn", "given"):
            raise ValueError(f"edges must be full|radius|knn|given, got {edges!r}")
        self.edges = edges
        self.cutoff = float(cutoff)
        self.k = int(k)
        self.edge_features = int(edge_features)
        self.sequence_neighbours = int(sequence_neighbours)
        self.chunk_size = int(chunk_size)
        self._cache: tuple | None = None

    @property
    def attr_dim(self) -> int:
        return self.edge_features + 2 * self.sequence_neighbours

    @property
    def static(self) -> bool:
        """True when the edges do not depend on positions."""
        return self.edges in ("full", "given")

    def forward(self, pos: Tensor, batch: Tensor, num_graphs: int, cond) -> tuple[Tensor, Tensor]:
        n = pos.shape[0]
        ei_given = getattr(cond, "edge_index", None)
        if self.static:
            key = (batch, batch._version, n, num_graphs, ei_given,
                   None if ei_given is None else ei_given._version, pos.dtype, pos.device)
            c = self._cache
            if c is not None and all(_same(a, b) for a, b in zip(c[0], key, strict=True)):
                return c[1], c[2]
        check_sorted_batch(batch)
        sets: list[tuple[Tensor, Tensor | None]] = []
        dims: list[int] = []
        if self.edges == "full":
            sets.append((fully_connected_edges(batch, num_graphs), None))
            dims.append(0)
        elif self.edges == "radius":
            sets.append((radius_edges(pos.detach(), batch, self.cutoff, num_graphs,
                                      chunk_size=self.chunk_size), None))
            dims.append(0)
        elif self.edges == "knn":
            sets.append((knn_edges(pos.detach(), batch, self.k, num_graphs,
                                   chunk_size=self.chunk_size), None))
            dims.append(0)
        if self.edges == "given" or self.edge_features:
            if ei_given is None:
                raise ValueError("cond.edge_index is required (edges='given' or edge_features>0)")
            if ei_given.dim() != 2 or ei_given.shape[0] != 2:
                raise ValueError(f"cond.edge_index must be [2, E], got {tuple(ei_given.shape)}")
            attr = None
            if self.edge_features:
                attr = getattr(cond, "edge_attr", None)
                if attr is None:
                    raise ValueError(f"cond.edge_attr is required (edge_features={self.edge_features})")
                if attr.dim() == 1:
                    attr = attr[:, None]
                if attr.shape != (ei_given.shape[1], self.edge_features):
                    raise ValueError(
                        f"cond.edge_attr must be [{ei_given.shape[1]}, {self.edge_features}],"
                        f" got {tuple(attr.shape)}"
                    )
                attr = attr.to(pos.dtype)
            sets.append((ei_given.to(pos.device), attr))
            dims.append(self.edge_features)
        if self.sequence_neighbours:
            s = self.sequence_neighbours
            ei_seq, off = sequence_edges(batch, s, getattr(cond, "chain", None))
            # offsets -s..-1, 1..s -> columns 0..2s-1
            col = torch.where(off < 0, off + s, off + s - 1)
            onehot = torch.nn.functional.one_hot(col, 2 * s).to(pos.dtype)
            sets.append((ei_seq, onehot))
            dims.append(2 * s)
        if len(sets) == 1 and dims[0] == 0:
            edge_index = sets[0][0]
            edge_attr = pos.new_zeros(edge_index.shape[1], 0)
        else:
            edge_index, edge_attr = union_edges(n, sets, dims)
            edge_attr = edge_attr.to(pos.dtype)
        if edge_index.numel() and (int(edge_index.max()) >= n or int(edge_index.min()) < 0):
            raise ValueError("edge_index refers to nodes outside [0, N)")
        if self.static:
            self._cache = (key, edge_index, edge_attr)
        return edge_index, edge_attr
