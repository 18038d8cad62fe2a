"""Build a protein chains file (data/proteins/chains.npz): backbones (N, CA, C, O) from
ProMod3's structure database or from a directory of your own PDB / mmCIF files, with a
train / valid / test split that keeps similar sequences on one side.

    apt-get install -y python3-promod3 promod3-data        # Debian bookworm, 371 MB
    /usr/bin/python3 scripts/build_protein_data.py [--max-clusters 4000] [--out data/proteins/chains.npz]

    .venv/bin/python scripts/build_protein_data.py --structures DIR --out FILE.npz

The ProMod3 build runs under the system Python (Debian's ``python3-promod3`` is built for
it) and needs only numpy besides ProMod3: it imports ``molediff.domains.proteins.chainfile``
(numpy only) from this checkout; molediff itself never imports ProMod3, it reads the file
written here. ``--structures`` runs in molediff's environment (biotite reads the files).

What it does:

1. Chains. ProMod3: ``promod3.loop.LoadStructureDB()`` (21,119 PDB chains, the database
   ProMod3 uses for loop modelling); keeps chains of ``--min-length``..``--max-length``
   residues whose backbone has no chain break (consecutive CA–CA within 3.3–4.3 Å).
   ``--structures DIR``: every ``.pdb`` / ``.ent`` / ``.cif`` / ``.mmcif`` / ``.bcif``
   file under DIR (recursively, optionally gzipped), first model, every protein chain,
   cut into segments at gaps and missing backbone atoms, segments of ``--min-length``..
   ``--max-length`` residues, one per distinct sequence
   (:func:`molediff.domains.proteins.data.chains_from_structures`); unreadable files are
   skipped with a warning and counted.
2. Similarity split: two chains are linked when they share at least ``--min-shared`` of
   the shorter one's distinct 5-mers (``--kmer``); connected components of that graph
   (union-find over an inverted 5-mer index) are sequence clusters. Clusters are shuffled
   with ``--seed`` and dealt whole to test, then valid, then train (``--valid`` /
   ``--test`` fractions of chains), so no two chains on different sides share that much
   sequence.
3. To keep the file small only the first ``--max-clusters`` clusters of the shuffled
   order are written (whole clusters; ProMod3 default 4,000 clusters, 4,186 chains;
   ``--structures`` default: all).
4. Coordinates: per chain centred on its CA centroid, stored as ``int16`` centi-Å
   (0.01 Å resolution), ``[total_residues, 4, 3]``, chain ``c`` in rows
   ``ptr[c]:ptr[c+1]``.

Arrays: ``coords`` (int16 [R, 4, 3], 0.01 Å), ``ptr`` (int64 [C+1]), ``sequence``
(one-letter strings), ``name`` (ProMod3: ``<pdb id>_<chain>``; structures:
``<file path below DIR>_<chain>``, plus ``_<first>-<last>`` residue numbers for a segment
of a cut chain), ``part`` (int8: 0 train, 1 valid, 2 test), ``cluster`` (int32), and
``meta_*`` strings (source, filter counts, options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# the ProMod3 build runs under the system Python, where molediff is not installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from molediff.domains.proteins.chainfile import DEFAULT_SEED, write_chains  # noqa: E402

#: clusters the ProMod3 build writes unless told otherwise (about 12.5 MB)
PROMOD3_MAX_CLUSTERS = 4000


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-length", type=int, default=40)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--kmer", type=int, default=5)
    ap.add_argument("--min-shared", type=float, default=0.1,
                    help="fraction of the shorter chain's distinct k-mers two chains must "
                         "share to be linked (0.1)")
    ap.add_argument("--valid", type=float, default=0.05)
    ap.add_argument("--test", type=float, default=0.05)
    ap.add_argument("--max-clusters", type=int, default=None,
                    help="clusters written (whole), first in the shuffled order "
                         f"(ProMod3: {PROMOD3_MAX_CLUSTERS}; --structures: all)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=None,
                    help="file to write (ProMod3: data/proteins/chains.npz; required with "
                         "--structures)")
    ap.add_argument("--structures", type=Path, default=None, metavar="DIR",
                    help="read PDB / mmCIF files under DIR instead of ProMod3's database")
    return ap.parse_args(argv)


def build_promod3(args: argparse.Namespace) -> None:
    """The shipped file: ProMod3's database, under the system Python."""
    if args.max_clusters is None:
        args.max_clusters = PROMOD3_MAX_CLUSTERS
    if args.out is None:
        args.out = Path("data/proteins/chains.npz")
    options = {k: v for k, v in vars(args).items() if k != "structures"}
    try:
        import promod3  # noqa: F401
    except ModuleNotFoundError:
        raise SystemExit("build_protein_data.py: error: ProMod3 is not importable: run under "
                         "/usr/bin/python3 after apt-get install -y python3-promod3 "
                         "promod3-data, or read your own files with --structures DIR "
                         "--out FILE.npz") from None
    chains, counts = read_database(args.min_length, args.max_length)
    info = write_chains(
        args.out, chains, kmer=args.kmer, min_shared=args.min_shared, valid=args.valid,
        test=args.test, seed=args.seed, max_clusters=args.max_clusters,
        meta={"source": "Debian promod3-data 3.2.1+ds-6, promod3.loop.LoadStructureDB()",
              "counts": repr(counts), "options": repr(options | {"out": str(args.out)})})
    report(args, len(chains), counts, info)


def build_structures(args: argparse.Namespace) -> None:
    """A chains file from the user's own PDB / mmCIF files."""
    from molediff.domains.proteins.data import chains_from_structures
    from molediff.utils.errors import InputError, UsageError

    if args.out is None:
        raise UsageError("--structures needs --out FILE.npz (the shipped "
                         "data/proteins/chains.npz is not overwritten by default)")
    chains, counts = chains_from_structures(args.structures, min_length=args.min_length,
                                            max_length=args.max_length)
    try:
        info = write_chains(
            args.out, chains, kmer=args.kmer, min_shared=args.min_shared, valid=args.valid,
            test=args.test, seed=args.seed, max_clusters=args.max_clusters,
            meta={"source": f"structure files under {args.structures.resolve()}",
                  "counts": repr(counts),
                  "options": repr(vars(args) | {"out": str(args.out),
                                                "structures": str(args.structures)})})
    except ValueError as exc:  # a chain too large for int16 centi-Å
        raise InputError(str(exc)) from None
    report(args, len(chains), counts, info)
    if counts["unreadable"]:
        print(f"skipped {counts['unreadable']} unreadable file(s) of {counts['files']} "
              "(warnings above)", file=sys.stderr)
    asked = {"valid": args.valid, "test": args.test}
    empty = [k for k, v in info["sizes"].items() if v == 0 and asked.get(k, 1.0) > 0]
    if empty:
        print(f"note: no chains in {' / '.join(empty)}: {info['clusters']} sequence "
              "cluster(s) are too few to fill every part (add structures)", file=sys.stderr)


def report(args: argparse.Namespace, n_chains: int, counts: dict[str, int], info: dict) -> None:
    print(f"filter counts: {counts}")
    print(f"{info['clusters']} clusters ({args.kmer}-mers, >= {args.min_shared:.0%} shared) "
          f"over {n_chains} chains; largest {info['largest']}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {info['sizes']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.structures is None:
        # the system Python has no hydra, which molediff.utils (the entry handler) imports
        build_promod3(args)
        return 0
    from molediff.utils.entry import run_entry

    # user errors (no usable chain, missing directory) as one line, not a traceback
    return run_entry(lambda _: build_structures(args), [], "build_protein_data.py")


if __name__ == "__main__":
    sys.exit(main())
