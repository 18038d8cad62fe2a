"""Graph builders against brute-force references on random batched inputs."""

from __future__ import annotations

import pytest
import torch

from molediff.nn.graphs import (
    fully_connected_edges,
    knn_edges,
    radius_edges,
    sequence_edges,
    union_edges,
)


def _random_batch(sizes: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    pos = torch.randn(batch.numel(), 3, generator=g, dtype=torch.float64) * 3.0
    return pos, batch


def _edge_set(ei: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, ei.t().tolist()))


def _brute(pos, batch, pred) -> set[tuple[int, int]]:
    n = pos.shape[0]
    out = set()
    for i in range(n):
        for j in range(n):
            if i != j and batch[i] == batch[j] and pred(i, j):
                out.add((j, i))
    return out


SIZES = [[5, 1, 7, 0, 12], [30], [3, 3, 3, 9, 2, 1]]


@pytest.mark.parametrize("sizes", SIZES)
def test_fully_connected_matches_brute_force(sizes):
    pos, batch = _random_batch(sizes)
    ei = fully_connected_edges(batch, num_graphs=len(sizes))
    assert ei.shape[1] == sum(n * (n - 1) for n in sizes)
    assert _edge_set(ei) == _brute(pos, batch, lambda i, j: True)
    # sorted by target then source
    key = ei[1] * pos.shape[0] + ei[0]
    assert bool((key[1:] > key[:-1]).all())


def test_fully_connected_self_loops():
    _, batch = _random_batch([4, 2])
    ei = fully_connected_edges(batch, self_loops=True)
    assert ei.shape[1] == 16 + 4
    assert int((ei[0] == ei[1]).sum()) == 6


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("chunk", [4, 2048])
def test_radius_matches_brute_force(sizes, chunk):
    pos, batch = _random_batch(sizes, seed=1)
    r = 3.5
    ei = radius_edges(pos, batch, r, chunk_size=chunk)
    d = torch.cdist(pos, pos)
    assert _edge_set(ei) == _brute(pos, batch, lambda i, j: d[i, j] <= r)
    assert ei.shape[1] == len(_edge_set(ei))


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("chunk", [5, 2048])
@pytest.mark.parametrize("k", [1, 4, 40])
@pytest.mark.parametrize("method", ["blocks", "tree"])
def test_knn_matches_brute_force(sizes, chunk, k, method):
    pos, batch = _random_batch(sizes, seed=2)
    ei = knn_edges(pos, batch, k, chunk_size=chunk, method=method)
    d = torch.cdist(pos, pos)
    ref = set()
    for i in range(pos.shape[0]):
        same = [j for j in range(pos.shape[0]) if j != i and batch[j] == batch[i]]
        same.sort(key=lambda j: float(d[i, j]))
        ref |= {(j, i) for j in same[:k]}
    assert _edge_set(ei) == ref
    assert ei.shape[1] == len(ref)


def test_big_graph_knn_chunked_equals_unchunked():
    pos, batch = _random_batch([700, 300], seed=3)
    a = knn_edges(pos, batch, 8, chunk_size=128, method="blocks")
    b = knn_edges(pos, batch, 8, chunk_size=4096, method="blocks")
    assert torch.equal(a, b)
    assert a.shape[1] == 1000 * 8


def test_knn_tree_equals_blocks_edge_for_edge():
    """Same edges in the same order (target, then source), and on the CPU ``auto`` is
    the tree."""
    pos, batch = _random_batch([900, 1, 2, 500], seed=4)
    tree = knn_edges(pos, batch, 16, method="tree")
    assert torch.equal(tree, knn_edges(pos, batch, 16, method="blocks"))
    assert torch.equal(tree, knn_edges(pos, batch, 16))
    with pytest.raises(ValueError, match="method"):
        knn_edges(pos, batch, 16, method="ball")


def test_sequence_edges_respect_graphs_and_chains():
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    chain = torch.tensor([0, 0, 1, 1, 0, 0, 0])
    ei, off = sequence_edges(batch, k=2, chain=chain)
    got = {(j, i, o) for (j, i), o in zip(ei.t().tolist(), off.tolist(), strict=True)}
    ref = set()
    for i in range(7):
        for j in range(7):
            if 0 < abs(i - j) <= 2 and batch[i] == batch[j] and chain[i] == chain[j]:
                ref.add((j, i, j - i))
    assert got == ref


def test_union_edges_concatenates_attributes():
    a = torch.tensor([[0, 1], [1, 0]])
    b = torch.tensor([[1, 2], [0, 1]])
    attr_b = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    ei, attr = union_edges(3, [(a, None), (b, attr_b)], [0, 2])
    got = {tuple(e): tuple(v) for e, v in zip(ei.t().tolist(), attr.tolist(), strict=True)}
    assert got == {(1, 0): (1.0, 2.0), (0, 1): (0.0, 0.0), (2, 1): (3.0, 4.0)}


def test_empty_inputs():
    pos = torch.zeros(0, 3)
    batch = torch.zeros(0, dtype=torch.long)
    assert fully_connected_edges(batch).shape == (2, 0)
    assert radius_edges(pos, batch, 1.0).shape == (2, 0)
    assert knn_edges(pos, batch, 3).shape == (2, 0)
    assert sequence_edges(batch)[0].shape == (2, 0)


def test_coincident_points_radius_and_knn():
    pos = torch.zeros(4, 3)
    batch = torch.zeros(4, dtype=torch.long)
    assert radius_edges(pos, batch, 0.5).shape[1] == 12
    for method in ("blocks", "tree"):
        ei = knn_edges(pos, batch, 2, method=method)
        assert ei.shape[1] == 8 and not bool((ei[0] == ei[1]).any())  # never a self loop


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        radius_edges(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), 1.0)
    with pytest.raises(ValueError):
        knn_edges(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), 2)
