"""``molediff conformers``: 3D conformers of molecules as one multi-conformer SDF.

Examples::

    molediff conformers "CC(=O)Oc1ccccc1C(=O)O" -n 10 -o aspirin.sdf
    molediff conformers "C[C@H](N)C(=O)O" "F/C=C/F" -n 5 --relax --prune-rms 0.3 -o out.sdf
    molediff conformers -i molecules.smi -n 10 -o out.sdf      # .smi / .csv / .sdf input

Uses the bundled checkpoint (``molediff/checkpoints/conformers_qm9.pt``) unless
``--checkpoint`` is given. Every conformer's stereocentres and double-bond stereo match
the input (resampled / mirrored / dropped otherwise; counted in the SDF properties and
the summary line). Bad inputs get one message each on stderr; the run continues with
the rest. Exit status: 0 if at least one molecule succeeded, 1 if none did, 2 on usage
or checkpoint errors. The SDF is written atomically (temp file + ``os.replace``), never
half-written, and not at all when nothing succeeded.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rdkit import Chem

from molediff.domains.chem.featurize import DEFAULT_MAX_HEAVY_ATOMS

SAMPLERS = ("heun", "euler", "ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde")


class InputError(ValueError):
    """An input file that cannot be read at all (missing, empty, unknown format)."""


def read_inputs(path: str | Path, smiles_column: str | None = None) -> list[Any]:
    """Molecules of a ``.smi`` / ``.txt`` (one SMILES per line, optional name after
    whitespace), ``.csv`` (column ``smiles_column`` or the first column named like
    ``smiles``) or ``.sdf`` file. Unreadable SDF records come back as ``None`` (reported
    per molecule later).

    Raises:
        InputError: missing or empty file, unknown extension, no SMILES column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    items: list[Any]
    if suffix in (".smi", ".txt", ".smiles"):
        items = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                items.append(line.split()[0])
    elif suffix == ".csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            col = smiles_column or next((c for c in cols if c.strip().lower() in
                                         ("smiles", "smi", "canonical_smiles")), None)
            if col is None or col not in cols:
                raise InputError(f"{path}: no SMILES column (columns: {', '.join(cols) or 'none'}); "
                                 "use --smiles-column")
            items = [row[col].strip() for row in reader if (row.get(col) or "").strip()]
    elif suffix == ".sdf":
        supplier = Chem.SDMolSupplier(str(path), removeHs=False)
        items = [m for m in supplier]
    else:
        raise InputError(f"{path}: unknown input format {suffix!r} (use .smi, .csv or .sdf)")
    if not items:
        raise InputError(f"{path}: no molecules in the file")
    return items


def add_generation_args(p: argparse.ArgumentParser) -> None:
    """Options shared by ``molediff conformers`` and ``scripts/generate_conformers.py``."""
    p.add_argument("-n", "--num-confs", type=int, default=10, help="conformers per molecule (10)")
    p.add_argument("-o", "--output", required=True, help="output SDF path")
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: the bundled QM9 model)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="core sampler (default: the checkpoint's, heun)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the checkpoint's)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="core sampler option over the checkpoint's, repeatable "
                        "(e.g. s_noise=1 for EDM's full churn noise: more diverse, less precise)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--batch-size", type=int, default=64, help="conformers per network batch (64)")
    p.add_argument("--relax", action="store_true", help="MMFF94-relax conformers (RDKit)")
    p.add_argument("--prune-rms", type=float, default=0.0,
                   help="drop conformers within this heavy-atom RMSD in Å of a kept one (0: off)")
    p.add_argument("--max-rounds", type=int, default=6,
                   help="resampling rounds for stereo mismatches (6)")
    p.add_argument("--max-heavy-atoms", type=int, default=DEFAULT_MAX_HEAVY_ATOMS,
                   help=f"size limit in heavy atoms ({DEFAULT_MAX_HEAVY_ATOMS})")
    p.add_argument("--device", default="cpu", help="torch device (cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for the network (1: fastest for this small model, "
                        "and far faster than 2 on a busy machine)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")


def run_generation(inputs: Sequence[Any], args: argparse.Namespace, progress_bar: bool = False) -> int:
    """Generate, report per-molecule failures on stderr, write the SDF; return the exit status."""
    from molediff.core.samplers import parse_sampler_option
    from molediff.domains.conformers.generate import ConformerGenerator, summarize, summary_line
    from molediff.domains.conformers.io import write_sdf
    from molediff.utils.errors import MolediffError

    if args.num_confs < 1 or args.batch_size < 1 or args.threads < 1 or (args.steps is not None and args.steps < 1):
        print("molediff conformers: error: -n, --batch-size, --threads and --steps must be >= 1",
              file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    try:
        options = dict(parse_sampler_option(o) for o in args.sampler_option)
        gen = ConformerGenerator(args.checkpoint, sampler=args.sampler, steps=args.steps,
                                 device=args.device, sampler_options=options)
    except (ValueError, MolediffError) as exc:  # a bad sampler option, a bad checkpoint
        print(f"molediff conformers: error: {exc}", file=sys.stderr)
        return 2
    gen.max_heavy_atoms = int(args.max_heavy_atoms)
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # our own one-line message per molecule replaces RDKit's
    bar = None
    progress = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(inputs) * args.num_confs, unit="conf", desc="sampling",
                   file=sys.stderr, disable=args.quiet)

        def progress(k: int) -> None:
            # stereo resampling draws more than the first estimate: grow the total
            if bar.n + k > bar.total:
                bar.total = bar.n + k
            bar.update(k)
    t0 = time.perf_counter()
    try:
        results = gen.generate(
            inputs, args.num_confs, seed=args.seed, batch_size=args.batch_size,
            max_rounds=args.max_rounds, relax=args.relax, prune_rms=args.prune_rms,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    for k, r in enumerate(results, 1):
        if not r.ok:
            print(f"molecule {k} ({r.smiles}): {r.error}", file=sys.stderr)
    ok = [r for r in results if r.ok]
    summary = summarize(results, seconds)
    if not ok:
        print(f"molediff conformers: error: no molecule succeeded ({len(results)} failed); "
              f"no output written", file=sys.stderr)
        return 1
    records = [rec for r in ok for rec in r.records()]
    write_sdf(args.output, records)
    if not args.quiet:
        print(f"wrote {args.output}: " + summary_line(summary), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="molediff conformers",
        description="Generate 3D conformers (Å, explicit H) with the conformer diffusion model.",
    )
    p.add_argument("smiles", nargs="*", help="input SMILES (one or more)")
    p.add_argument("-i", "--input", default=None, help=".smi / .csv / .sdf file of molecules")
    p.add_argument("--smiles-column", default=None, help="CSV column holding SMILES")
    add_generation_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff conformers`` entry point; returns the exit status."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    inputs: list[Any] = list(args.smiles)
    if args.input:
        try:
            inputs += read_inputs(args.input, args.smiles_column)
        except InputError as exc:
            print(f"molediff conformers: error: {exc}", file=sys.stderr)
            return 1
    if not inputs:
        print("molediff conformers: error: give at least one SMILES or --input FILE", file=sys.stderr)
        return 2
    return run_generation(inputs, args, progress_bar=bool(args.input))


if __name__ == "__main__":
    sys.exit(main())
