"""Edge construction for batched point sets in plain torch (no torch-cluster).

Conventions (same as PyG's ``source_to_target`` flow):

- ``batch: LongTensor[N]`` is the graph index of each node and must be sorted
  (non-decreasing), as in every PyG ``Batch``.
- ``edge_index: LongTensor[2, E]`` holds ``(source j, target i)``; messages flow
  from ``j`` to ``i`` and are aggregated at ``i``.
- Every builder returns edges sorted by target, then source, so that the targets
  form contiguous segments (useful for segment reductions and reproducibility).
- Positions are in Å; ``cutoff`` is in Å.

Memory is never quadratic in the total number of nodes of the batch: fully connected
edges are enumerated per graph (``sum_g n_g^2``) and the radius / kNN searches work on
blocks of ``chunk_size`` target nodes against the nodes of the graphs those targets
belong to, so peak memory is ``O(chunk_size * max graph span)``.

Building a graph needs the edge count on the host (the output has a data-dependent
size); it happens once per network call, never inside the layers.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "fully_connected_edges",
    "radius_edges",
    "knn_edges",
    "sequence_edges",
    "union_edges",
    "graph_ptr",
    "check_sorted_batch",
]


def graph_ptr(batch: Tensor, num_graphs: int | None = None) -> tuple[Tensor, Tensor]:
    """Return ``(counts[B], ptr[B+1])`` for a sorted ``batch`` vector."""
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=batch.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    return counts, ptr


def check_sorted_batch(batch: Tensor) -> None:
    """Raise ``ValueError`` unless ``batch`` is a 1-D non-decreasing LongTensor."""
    if batch.dim() != 1:
        raise ValueError(f"batch must be 1-D, got shape {tuple(batch.shape)}")
    if batch.dtype != torch.long:
        raise ValueError(f"batch must be int64, got {batch.dtype}")
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("batch must be sorted (non-decreasing), as in a PyG Batch")


def _empty_edges(device: torch.device) -> Tensor:
    return torch.zeros(2, 0, dtype=torch.long, device=device)


def fully_connected_edges(
    batch: Tensor, num_graphs: int | None = None, self_loops: bool = False
) -> Tensor:
    """All ordered pairs ``(j, i)`` within each graph (``j != i`` unless ``self_loops``).

    Costs ``sum_g n_g^2`` memory, never ``N^2``.
    """
    device = batch.device
    n = batch.numel()
    if n == 0:
        return _empty_edges(device)
    counts, ptr = graph_ptr(batch, num_graphs)
    node = torch.arange(n, device=device)
    local = node - ptr[batch]  # position of each node inside its graph
    deg = counts[batch] - (0 if self_loops else 1)  # in-degree of each target
    target = torch.repeat_interleave(node, deg)
    if target.numel() == 0:
        return _empty_edges(device)
    edge_start = torch.cumsum(deg, 0) - deg
    k = torch.arange(target.numel(), device=device) - edge_start[target]
    if not self_loops:
        # skip the diagonal: the k-th neighbour of a node at local position l is k or k+1
        k = k + (k >= local[target]).long()
    source = ptr[batch[target]] + k
    return torch.stack([source, target])


def _blocks(batch: Tensor, ptr: Tensor, chunk_size: int):
    """Yield ``(t0, t1, c0, c1)``: target rows ``t0:t1`` and candidate columns ``c0:c1``.

    Candidates span the graphs of the target rows only, so a block never exceeds
    ``chunk_size x (chunk_size + 2 * max graph size)``.
    """
    n = batch.numel()
    bounds = ptr.tolist()
    b = batch.tolist() if n <= chunk_size else None
    t0 = 0
    while t0 < n:
        t1 = min(t0 + chunk_size, n)
        if b is not None:
            g0, g1 = b[t0], b[t1 - 1]
        else:
            g0, g1 = int(batch[t0]), int(batch[t1 - 1])
        yield t0, t1, bounds[g0], bounds[g1 + 1]
        t0 = t1


def _block_sqdist(pos: Tensor, t0: int, t1: int, c0: int, c1: int) -> Tensor:
    # Explicit differences (not the |a|^2 - 2ab + |b|^2 trick) so that distances are
    # exact to rounding and edge sets do not depend on the absolute position.
    return torch.cdist(pos[t0:t1], pos[c0:c1], compute_mode="donot_use_mm_for_euclid_dist") ** 2


def radius_edges(
    pos: Tensor,
    batch: Tensor,
    cutoff: float,
    num_graphs: int | None = None,
    self_loops: bool = False,
    chunk_size: int = 2048,
) -> Tensor:
    """Edges ``(j, i)`` with ``|pos_i - pos_j| <= cutoff`` (Å) inside each graph."""
    _check_pos(pos, batch)
    device = pos.device
    if pos.shape[0] == 0:
        return _empty_edges(device)
    _, ptr = graph_ptr(batch, num_graphs)
    r2 = float(cutoff) ** 2
    out = []
    with torch.no_grad():
        for t0, t1, c0, c1 in _blocks(batch, ptr, chunk_size):
            d2 = _block_sqdist(pos, t0, t1, c0, c1)
            mask = (d2 <= r2) & (batch[t0:t1, None] == batch[None, c0:c1])
            if not self_loops:
                rows = torch.arange(t0, t1, device=device)
                mask[rows - t0, rows - c0] = False
            ti, cj = mask.nonzero(as_tuple=True)  # row-major: sorted by target, then source
            out.append(torch.stack([cj + c0, ti + t0]))
    return torch.cat(out, 1)


def knn_edges(
    pos: Tensor,
    batch: Tensor,
    k: int,
    num_graphs: int | None = None,
    chunk_size: int = 2048,
    method: str = "auto",
) -> Tensor:
    """For every node ``i`` the ``k`` nearest other nodes ``j`` of its graph, as ``(j, i)``.

    Nodes in graphs with ``n_g <= k`` get all ``n_g - 1`` others. Sources of each
    target are sorted by index.

    ``method``: ``"blocks"`` compares each block of ``chunk_size`` targets with all nodes
    of their graphs (``O(n_g^2)`` work, any device); ``"tree"`` queries a k-d tree per graph
    (SciPy, on the CPU; ``O(n_g log n_g)``: at 16,384 points it is what keeps a network
    call linear in the point count); ``"auto"``: the tree for CPU tensors, else blocks.
    Both are exact; they can differ only where two neighbours tie to float32 rounding.
    """
    _check_pos(pos, batch)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if method not in ("auto", "tree", "blocks"):
        raise ValueError(f"method must be auto, tree or blocks, got {method!r}")
    device = pos.device
    if pos.shape[0] == 0:
        return _empty_edges(device)
    _, ptr = graph_ptr(batch, num_graphs)
    if method == "tree" or (method == "auto" and device.type == "cpu"):
        return _knn_tree(pos, ptr, k)
    out = []
    with torch.no_grad():
        for t0, t1, c0, c1 in _blocks(batch, ptr, chunk_size):
            d2 = _block_sqdist(pos, t0, t1, c0, c1)
            rows = torch.arange(t0, t1, device=device)
            d2 = d2.masked_fill(batch[t0:t1, None] != batch[None, c0:c1], float("inf"))
            d2[rows - t0, rows - c0] = float("inf")
            kk = min(k, c1 - c0)
            val, idx = torch.topk(d2, kk, dim=1, largest=False, sorted=False)
            keep = torch.zeros_like(d2, dtype=torch.bool)
            keep.scatter_(1, idx, torch.isfinite(val))
            ti, cj = keep.nonzero(as_tuple=True)
            out.append(torch.stack([cj + c0, ti + t0]))
    return torch.cat(out, 1)


def _knn_tree(pos: Tensor, ptr: Tensor, k: int) -> Tensor:
    from scipy.spatial import cKDTree

    points = pos.detach().cpu().double().numpy()
    bounds = ptr.tolist()
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        n = b - a
        if n < 2:
            continue
        kk = min(k, n - 1)
        # k + 1 neighbours include the node itself, unless coincident points push it out
        _, idx = cKDTree(points[a:b]).query(points[a:b], k=kk + 1)
        idx = torch.from_numpy(idx.reshape(n, kk + 1))
        rows = torch.arange(n).unsqueeze(1)
        is_self = idx == rows
        drop = torch.where(is_self.any(1), is_self.to(torch.int8).argmax(1), torch.full((n,), kk))
        keep = torch.ones_like(idx, dtype=torch.bool)
        keep[torch.arange(n), drop] = False
        src = idx[keep].reshape(n, kk).sort(dim=1).values
        out.append(torch.stack([src.reshape(-1) + a, rows.expand(n, kk).reshape(-1) + a]))
    if not out:
        return _empty_edges(pos.device)
    return torch.cat(out, 1).to(pos.device)


def sequence_edges(
    batch: Tensor, k: int = 1, chain: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Edges between nodes ``i`` and ``i +- 1 .. k`` of the same graph (and chain).

    Returns ``(edge_index, offset)`` where ``offset[e] = source - target`` in
    ``{-k..-1, 1..k}``, e.g. for a one-hot "sequence neighbour" edge feature.
    """
    n = batch.numel()
    device = batch.device
    if chain is not None and chain.shape != batch.shape:
        raise ValueError(f"chain shape {tuple(chain.shape)} != batch shape {tuple(batch.shape)}")
    srcs, dsts, offs = [], [], []
    for off in range(1, k + 1):
        if off >= n:
            break
        a = torch.arange(n - off, device=device)
        b = a + off
        same = batch[a] == batch[b]
        if chain is not None:
            same &= chain[a] == chain[b]
        a, b = a[same], b[same]
        srcs += [a, b]
        dsts += [b, a]
        offs += [torch.full_like(a, -off), torch.full_like(a, off)]
    if not srcs:
        return _empty_edges(device), torch.zeros(0, dtype=torch.long, device=device)
    src, dst, off_t = torch.cat(srcs), torch.cat(dsts), torch.cat(offs)
    order = torch.argsort(dst * n + src)
    return torch.stack([src[order], dst[order]]), off_t[order]


def union_edges(
    num_nodes: int, edge_sets: list[tuple[Tensor, Tensor | None]], attr_dims: list[int]
) -> tuple[Tensor, Tensor]:
    """Union of several edge sets with concatenated attributes.

    ``edge_sets[s] = (edge_index_s, attr_s or None)``; ``attr_dims[s]`` is the width of
    set ``s``'s attribute block. The result has one row per distinct ``(j, i)``, sorted by
    target then source, and attribute columns ``[attr_0 | attr_1 | ...]`` where a set that
    does not contain the edge contributes zeros (duplicates within a set are summed).
    """
    total = sum(attr_dims)
    device = edge_sets[0][0].device
    keys, rows = [], []
    col = 0
    dtype = next((a.dtype for _, a in edge_sets if a is not None and a.is_floating_point()),
                 torch.get_default_dtype())
    for (ei, attr), width in zip(edge_sets, attr_dims, strict=True):
        e = ei.shape[1]
        block = torch.zeros(e, total, dtype=dtype, device=device)
        if width:
            if attr is None or attr.shape != (e, width):
                raise ValueError(f"edge attributes must have shape ({e}, {width})")
            block[:, col : col + width] = attr.to(dtype)
        col += width
        keys.append(ei[1] * num_nodes + ei[0])
        rows.append(block)
    key = torch.cat(keys)
    uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
    attr = torch.zeros(uniq.numel(), total, dtype=dtype, device=device)
    attr.index_add_(0, inv, torch.cat(rows))
    return torch.stack([uniq % num_nodes, uniq // num_nodes]), attr


def _check_pos(pos: Tensor, batch: Tensor) -> None:
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must be [N, 3], got {tuple(pos.shape)}")
    if batch.shape != (pos.shape[0],):
        raise ValueError(f"batch must be [{pos.shape[0]}], got {tuple(batch.shape)}")
