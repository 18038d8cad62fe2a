"""Writing the protein chains file (the format of ``data/proteins/chains.npz``) with its
sequence-similarity split.

Format (``numpy.savez_compressed``): ``coords`` (``int16 [R, 4, 3]``, N / CA / C / O in
hundredths of an Å, each chain centred on its CA centroid), ``ptr`` (``int64 [C+1]``: chain
``c`` is rows ``ptr[c]:ptr[c+1]``), ``sequence`` (one-letter strings), ``name``, ``part``
(``int8``: 0 train, 1 valid, 2 test), ``cluster`` (``int32`` sequence cluster) and
``meta_*`` strings. :func:`molediff.domains.proteins.data.load_chains` reads it.

Split: two chains are linked when they share at least ``min_shared`` of the shorter one's
distinct ``k``-mers; connected components of that graph are clusters, shuffled with a
seed and dealt whole to test, then valid, then train, so no two chains on different sides
share that much sequence.

This module needs only numpy and the standard library: ``scripts/build_protein_data.py``
imports it under Debian's system Python, next to ProMod3, where torch is not installed.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PARTS = {"train": 0, "valid": 1, "test": 2}
#: stored coordinates are ``int16`` multiples of 1 / COORD_SCALE Å (0.01 Å)
COORD_SCALE = 100.0
#: the seed of the shipped file's split
DEFAULT_SEED = 20261201

#: one chain: ``(name, one-letter sequence, backbone float [L, 4, 3] in Å)``
Chain = tuple[str, str, np.ndarray]


def kmer_clusters(seqs: Sequence[str], k: int = 5, min_shared: float = 0.1) -> np.ndarray:
    """Cluster label (``int32``, numbered in order of first appearance) per sequence:
    connected components of "shares at least ``min_shared`` of the shorter sequence's
    distinct ``k``-mers" (union-find over an inverted k-mer index, so the cost grows with
    the number of shared k-mers, not with the square of the number of sequences)."""
    kmers = [{s[i : i + k] for i in range(len(s) - k + 1)} for s in seqs]
    index: dict[str, list[int]] = defaultdict(list)
    for j, ks in enumerate(kmers):
        for km in ks:
            index[km].append(j)
    parent = list(range(len(seqs)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for j, ks in enumerate(kmers):
        shared: dict[int, int] = defaultdict(int)
        for km in ks:
            for other in index[km]:
                if other > j:
                    shared[other] += 1
        for other, c in shared.items():
            if c >= min_shared * max(1, min(len(ks), len(kmers[other]))):
                ra, rb = find(j), find(other)
                if ra != rb:
                    parent[rb] = ra
    roots = [find(j) for j in range(len(seqs))]
    labels = {r: c for c, r in enumerate(dict.fromkeys(roots))}
    return np.array([labels[r] for r in roots], dtype=np.int32)


def deal_clusters(cluster: np.ndarray, valid: float = 0.05, test: float = 0.05,
                  seed: int = DEFAULT_SEED, max_clusters: int | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Split whole clusters: shuffle the cluster labels with ``seed``, keep the first
    ``max_clusters`` (all when ``None``) and deal them to test until it holds ``test`` of
    the kept chains (a fraction), then to valid (``valid``), the rest to train.

    Returns:
        ``keep`` (``int64``, indices of the kept chains in ascending order) and ``part``
        (``int8`` per kept chain, :data:`PARTS`).
    """
    members: dict[int, list[int]] = defaultdict(list)
    for j, c in enumerate(np.asarray(cluster).tolist()):
        members[c].append(j)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    chosen = order if max_clusters is None else order[:max_clusters]
    total = sum(len(members[c]) for c in chosen)
    want = {"test": test * total, "valid": valid * total}
    part_of: dict[int, int] = {}
    filled = {"test": 0, "valid": 0}
    for i, c in enumerate(chosen):
        # a handful of chains would otherwise all go to test / valid and leave nothing to
        # train on: the last cluster stays in train when train has none yet
        if i == len(chosen) - 1 and PARTS["train"] not in part_of.values():
            part_of[c] = PARTS["train"]
            break
        for name in ("test", "valid"):
            if filled[name] < want[name]:
                part_of[c] = PARTS[name]
                filled[name] += len(members[c])
                break
        else:
            part_of[c] = PARTS["train"]
    keep = np.array(sorted(j for c in chosen for j in members[c]), dtype=np.int64)
    part = np.array([part_of[int(cluster[j])] for j in keep], dtype=np.int8)
    return keep, part


def write_chains(path: str | Path, chains: Sequence[Chain], *, kmer: int = 5,
                 min_shared: float = 0.1, valid: float = 0.05, test: float = 0.05,
                 seed: int = DEFAULT_SEED, max_clusters: int | None = None,
                 meta: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Cluster ``chains`` by sequence (:func:`kmer_clusters`), split them
    (:func:`deal_clusters`) and write the chains file to ``path``.

    Args:
        path: the ``.npz`` file to write (parent folders are created).
        chains: ``(name, sequence, backbone [L, 4, 3] Å)`` per chain; stored centred on the
            CA centroid, rounded to 0.01 Å.
        kmer, min_shared: the similarity rule (k-mer length; share of the shorter chain's
            distinct k-mers two chains must have in common to be linked).
        valid, test: fractions of the kept chains in those parts (whole clusters).
        seed: shuffles the clusters.
        max_clusters: write only the first clusters of the shuffled order (``None``: all).
        meta: extra ``meta_<key>`` strings to store (source, counts, options).

    Returns:
        ``sizes`` (chains per part), ``clusters`` (all clusters), ``written_clusters``,
        ``largest`` (chains in the largest cluster) and ``chains`` (chains written).

    Raises:
        ValueError: no chains, or a chain extending more than 327 Å from its CA centroid
            (beyond ``int16`` centi-Å).
    """
    if not chains:
        raise ValueError("no chains to write")
    cluster = kmer_clusters([s for _, s, _ in chains], kmer, min_shared)
    keep, part = deal_clusters(cluster, valid, test, seed, max_clusters)
    limit = np.iinfo(np.int16).max
    coords, ptr = [], [0]
    for j in keep:
        name, _, xyz = chains[j]
        xyz = np.asarray(xyz, dtype=np.float64)
        xyz = np.round((xyz - xyz[:, 1].mean(0)) * COORD_SCALE)
        if np.abs(xyz).max() > limit:
            raise ValueError(f"chain {name} extends more than {limit / COORD_SCALE:.0f} Å from "
                             "its CA centroid and cannot be stored as int16 centi-Å")
        coords.append(xyz.astype(np.int16))
        ptr.append(ptr[-1] + len(xyz))
    sizes = {k: int((part == v).sum()) for k, v in PARTS.items()}
    n_clusters = int(cluster.max()) + 1
    written = len(np.unique(cluster[keep]))
    extra = {f"meta_{k}": np.array(v) for k, v in (meta or {}).items()}
    extra["meta_clusters"] = np.array(f"{n_clusters} clusters over {len(chains)} kept chains; "
                                      f"{written} clusters written")
    extra["meta_sizes"] = np.array(repr(sizes))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, coords=np.concatenate(coords), ptr=np.array(ptr, dtype=np.int64),
        sequence=np.array([chains[j][1] for j in keep]),
        name=np.array([chains[j][0] for j in keep]), part=part,
        cluster=cluster[keep].astype(np.int32), **extra)
    return {"sizes": sizes, "clusters": n_clusters, "written_clusters": written,
            "largest": int(np.bincount(cluster).max()), "chains": len(keep)}


__all__ = ["PARTS", "COORD_SCALE", "DEFAULT_SEED", "Chain", "kmer_clusters", "deal_clusters",
           "write_chains"]
