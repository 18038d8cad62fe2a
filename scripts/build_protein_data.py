"""Build data/proteins/chains.npz: protein backbones (N, CA, C, O) from ProMod3's structure
database, with a train / valid / test split that keeps similar sequences on one side.

    apt-get install -y python3-promod3 promod3-data        # Debian bookworm, 371 MB
    /usr/bin/python3 scripts/build_protein_data.py [--max-clusters 4000] [--out data/proteins/chains.npz]

Runs under the system Python (Debian's ``python3-promod3`` is built for it) and needs only
numpy besides ProMod3; molediff itself never imports ProMod3, it reads the file written here.

What it does:

1. ``promod3.loop.LoadStructureDB()`` (21,119 PDB chains, the database ProMod3 uses for
   loop modelling); keeps chains of ``--min-length``..``--max-length`` residues whose
   backbone has no chain break (consecutive CA–CA within 3.3–4.3 Å).
2. Similarity split: two chains are linked when they share at least ``--min-shared`` of
   the shorter one's distinct 5-mers (``--kmer``); connected components of that graph
   (union-find over an inverted 5-mer index) are sequence clusters. Clusters are shuffled
   with ``--seed`` and dealt whole to test, then valid, then train (``--valid`` /
   ``--test`` fractions of chains), so no two chains on different sides share that much
   sequence.
3. To keep the file small only the first ``--max-clusters`` clusters of the shuffled
   order are written (whole clusters; 4,000 clusters hold 4,186 chains).
4. Coordinates: per chain centred on its CA centroid, stored as ``int16`` centi-Å
   (0.01 Å resolution), ``[total_residues, 4, 3]``, chain ``c`` in rows
   ``ptr[c]:ptr[c+1]``.

Arrays: ``coords`` (int16 [R, 4, 3], 0.01 Å), ``ptr`` (int64 [C+1]), ``sequence``
(one-letter strings), ``name`` (``<pdb id>_<chain>``), ``part`` (int8: 0 train, 1 valid,
2 test), ``cluster`` (int32), and ``meta_*`` strings (source, filter counts, options).
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

PARTS = {"train": 0, "valid": 1, "test": 2}


def read_database(min_len: int, max_len: int):
    """Yield ``(name, sequence, backbone [n, 4, 3] float Å)`` for every kept chain and
    count what was dropped."""
    from promod3 import loop

    db = loop.LoadStructureDB()
    counts = {"total": db.GetNumCoords(), "length": 0, "chain_break": 0, "kept": 0}
    out = []
    for i in range(db.GetNumCoords()):
        info = db.GetCoordInfo(i)
        n = info.size
        if not min_len <= n <= max_len:
            counts["length"] += 1
            continue
        frag = loop.FragmentInfo(i, 0, n)
        seq = db.GetSequence(frag)
        bb = db.GetBackboneList(frag, seq)
        xyz = np.empty((n, 4, 3), dtype=np.float64)
        for k in range(n):
            for a, get in enumerate((bb.GetN, bb.GetCA, bb.GetC, bb.GetO)):
                v = get(k)
                xyz[k, a] = (v[0], v[1], v[2])
        d = np.linalg.norm(np.diff(xyz[:, 1], axis=0), axis=-1)
        if (d < 3.3).any() or (d > 4.3).any():
            counts["chain_break"] += 1
            continue
        name = f"{info.id}_{info.chain_name}"
        out.append((name, seq, xyz))
        counts["kept"] += 1
    return out, counts


def kmer_clusters(seqs: list[str], k: int, min_shared: float) -> np.ndarray:
    """Cluster label per sequence: connected components of 'shares >= min_shared of the
    shorter sequence's distinct k-mers'."""
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-length", type=int, default=40)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--kmer", type=int, default=5)
    ap.add_argument("--min-shared", type=float, default=0.1,
                    help="fraction of the shorter chain's distinct k-mers two chains must "
                         "share to be linked (0.1)")
    ap.add_argument("--valid", type=float, default=0.05)
    ap.add_argument("--test", type=float, default=0.05)
    ap.add_argument("--max-clusters", type=int, default=4000,
                    help="clusters written (whole), first in the shuffled order (4000)")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--out", type=Path, default=Path("data/proteins/chains.npz"))
    args = ap.parse_args()

    chains, counts = read_database(args.min_length, args.max_length)
    seqs = [s for _, s, _ in chains]
    cluster = kmer_clusters(seqs, args.kmer, args.min_shared)
    members: dict[int, list[int]] = defaultdict(list)
    for j, c in enumerate(cluster.tolist()):
        members[c].append(j)
    order = sorted(members)
    random.Random(args.seed).shuffle(order)
    # the first clusters of the shuffled order, whole, then dealt test -> valid -> train
    chosen = order[: args.max_clusters]
    total = sum(len(members[c]) for c in chosen)
    want = {"test": args.test * total, "valid": args.valid * total}
    part_of: dict[int, int] = {}
    filled = {"test": 0, "valid": 0}
    for c in chosen:
        for name in ("test", "valid"):
            if filled[name] < want[name]:
                part_of[c] = PARTS[name]
                filled[name] += len(members[c])
                break
        else:
            part_of[c] = PARTS["train"]
    keep = sorted(j for c in chosen for j in members[c])
    coords, ptr, names, seq_out, part, clus = [], [0], [], [], [], []
    for j in keep:
        name, seq, xyz = chains[j]
        xyz = xyz - xyz[:, 1].mean(0)
        coords.append(np.round(xyz * 100.0).astype(np.int16))
        ptr.append(ptr[-1] + len(xyz))
        names.append(name)
        seq_out.append(seq)
        part.append(part_of[int(cluster[j])])
        clus.append(int(cluster[j]))
    part_arr = np.array(part, dtype=np.int8)
    sizes = {k: int((part_arr == v).sum()) for k, v in PARTS.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        coords=np.concatenate(coords), ptr=np.array(ptr, dtype=np.int64),
        sequence=np.array(seq_out), name=np.array(names), part=part_arr,
        cluster=np.array(clus, dtype=np.int32),
        meta_source=np.array("Debian promod3-data 3.2.1+ds-6, promod3.loop.LoadStructureDB()"),
        meta_counts=np.array(repr(counts)),
        meta_clusters=np.array(f"{len(members)} clusters over {len(chains)} kept chains; "
                               f"{len(chosen)} clusters written"),
        meta_options=np.array(repr(vars(args) | {"out": str(args.out)})),
        meta_sizes=np.array(repr(sizes)),
    )
    print(f"filter counts: {counts}")
    print(f"{len(members)} clusters ({args.kmer}-mers, >= {args.min_shared:.0%} shared) "
          f"over {len(chains)} chains; largest {max(len(m) for m in members.values())}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {sizes}")


if __name__ == "__main__":
    main()
