"""``molediff conformers``: 3D conformers of molecules as one multi-conformer SDF.

Examples::

    molediff conformers "CC(=O)Oc1ccccc1C(=O)O" -n 10 -o aspirin.sdf
    molediff conformers "C[C@H](N)C(=O)O" "F/C=C/F" -n 5 --relax --prune-rms 0.3 -o out.sdf
    molediff conformers -i molecules.smi -n 10 -o out.sdf      # .smi / .csv / .sdf input
    molediff conformers "CCO" -n 3 -o - | head                 # SDF on standard output

Uses the bundled models (``--model auto``: molecules inside QM9's training range, at most
9 heavy atoms of H C N O F, go to ``conformers_qm9.pt``, the rest to the ETKDG-seeded
``conformers_drugs.pt``; :mod:`molediff.domains.conformers.routing`) unless
``--checkpoint`` is given, through :func:`molediff.inference.load_model` and the conformer
domain's generation path. Every conformer's stereocentres and double-bond stereo match
the input (resampled / mirrored / dropped otherwise; counted in the SDF properties and
the summary line). Every option and the output destination are checked before the model
is loaded; bad molecules get one message each on stderr and the run continues with the
rest. Exit status: 0 if at least one molecule succeeded, 1 if none did (or the input file
is unreadable), 2 on usage, output or checkpoint errors, 130 when interrupted. The SDF is
written atomically, never half-written, and not at all when nothing succeeded.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from molediff.utils.entry import run_entry
from molediff.utils.errors import InputError, UsageError

MODELS = ("auto", "qm9", "drugs")
SAMPLERS = ("heun", "euler", "ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde", "restart")
PROG = "molediff conformers"


def add_generation_args(p: argparse.ArgumentParser) -> None:
    """Options shared by ``molediff conformers`` and ``scripts/generate_conformers.py``."""
    p.add_argument("-n", "--num-confs", type=int, default=10, help="conformers per molecule (10)")
    p.add_argument("-o", "--output", required=True,
                   help="output SDF path ('-': standard output)")
    p.add_argument("--model", choices=MODELS, default="auto",
                   help="bundled model: qm9 (diffusion from noise; trained on QM9, at most 9 "
                        "heavy atoms of H C N O F), drugs (ETKDG-seeded partial diffusion; "
                        "H C N O F P S Cl Br I, up to 64 heavy atoms) or auto (qm9 for "
                        "molecules inside QM9's range, drugs for the rest; the default)")
    p.add_argument("--checkpoint", default=None,
                   help="a conformer checkpoint instead of the bundled models")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="core sampler (default: the checkpoint's, heun)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the checkpoint's)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="core sampler option over the checkpoint's, repeatable "
                        "(e.g. s_noise=1 for EDM's full churn noise: more diverse, less precise)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (0); a molecule's conformers depend only on the seed, "
                        "the molecule and the conformer index")
    p.add_argument("--batch-size", type=int, default=64, help="conformers per network batch (64)")
    p.add_argument("--relax", action="store_true", help="MMFF94-relax conformers (RDKit)")
    p.add_argument("--prune-rms", type=float, default=0.0,
                   help="drop conformers within this heavy-atom RMSD in Å of a kept one (0: off)")
    p.add_argument("--max-rounds", type=int, default=6,
                   help="sampling rounds: resampling of stereo mismatches (6; >= 1)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="SECONDS",
                   help="seconds per molecule, sampling, checks and relaxation included "
                        "(60); a molecule past it keeps the conformers that passed, and "
                        "any molecule that ends past it gets a note (0: no limit)")
    p.add_argument("--max-heavy-atoms", type=int, default=None,
                   help="size limit in heavy atoms (default: the model's, 64 for the bundled one)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N, auto (cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for the network (1: fastest for this small model, "
                        "and far faster than 2 on a busy machine)")
    p.add_argument("--enumerate-stereo", action="store_true",
                   help="molecules with unspecified stereocentres or double bonds: generate "
                        "every stereoisomer (up to 32, each its own SDF record named "
                        "'<name> isomer k') instead of letting the model choose")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary line")


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate every option (one :class:`UsageError` naming the option); returns the
    parsed sampler options. Cheap checks come first: nothing here loads torch until the
    plain numbers have passed."""
    from molediff.utils.validate import non_negative_float, positive_int

    for flag, value in (("-n/--num-confs", args.num_confs), ("--batch-size", args.batch_size),
                        ("--threads", args.threads), ("--max-rounds", args.max_rounds)):
        positive_int(value, flag)
    for flag, value in (("--steps", args.steps), ("--max-heavy-atoms", args.max_heavy_atoms)):
        if value is not None:
            positive_int(value, flag)
    non_negative_float(args.prune_rms, "--prune-rms")
    non_negative_float(args.time_limit, "--time-limit")
    if args.checkpoint and args.model != "auto":
        raise UsageError(f"--checkpoint and --model {args.model}: give one of them")
    from molediff.core.samplers import parse_sampler_option

    try:
        return dict(parse_sampler_option(o) for o in args.sampler_option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_generation(inputs: Sequence[Any], args: argparse.Namespace) -> int:
    """Check the options and the output, load the model(s), generate, report per-molecule
    failures on stderr, write the SDF; return the exit status."""
    from molediff.utils.io import check_output_path

    check_output_path(args.output, allow_stdout=True)  # fail now, not after the sampling
    options = check_args(args)

    import torch
    from rdkit import RDLogger

    from molediff.domains.conformers.generate import nothing_generated, summarize, summary_line
    from molediff.domains.conformers.routing import (
        BUNDLED,
        generate_by_model,
        model_label,
        readable,
        route,
    )

    RDLogger.DisableLog("rdApp.*")  # our own one-line message per molecule replaces RDKit's
    torch.set_num_threads(args.threads)
    # unreadable inputs go to no model (each still gets its one-line error): --model auto
    # loads no model for them, and no model counts them as its molecules; a model named
    # by the user is loaded all the same, so a bad checkpoint is reported as such
    if args.checkpoint:
        groups = {args.checkpoint: readable(inputs)}
    elif args.model == "auto":
        groups = {str(BUNDLED[name]): idx for name, idx in route(inputs).items()}
    else:
        groups = {str(BUNDLED[args.model]): readable(inputs)}
    models = [(_load(path, args, options), idx) for path, idx in groups.items()]
    t0 = time.perf_counter()
    results = generate_by_model(
        models, inputs, args.num_confs, seed=args.seed, batch_size=args.batch_size,
        progress=not args.quiet, max_rounds=args.max_rounds, relax=args.relax,
        prune_rms=args.prune_rms, time_limit=args.time_limit or None)
    seconds = time.perf_counter() - t0
    ok = [r for r in results if r.ok]
    if not ok:
        raise InputError(f"{nothing_generated(results)}; no output written")
    for k, r in enumerate(results, 1):
        if not r.ok:
            why = f" ({'; '.join(r.notes)})" if r.notes else ""
            print(f"molecule {k} ({r.smiles}): {r.error}{why}", file=sys.stderr)
        elif r.notes and not args.quiet:
            print(f"molecule {k} ({r.smiles}): note: {'; '.join(r.notes)}", file=sys.stderr)
    summary = summarize(results, seconds)
    from molediff.domains.conformers.io import sdf_text
    from molediff.utils.io import write_output

    write_output(args.output, sdf_text(rec for r in ok for rec in r.records()))
    if not args.quiet:
        where = "standard output" if args.output == "-" else args.output
        used = "; ".join(f"{model_label(m)}: {len(idx)} molecule(s)" for m, idx in models)
        print(f"models: {used}", file=sys.stderr)
        print(f"wrote {where}: " + summary_line(summary), file=sys.stderr)
    return 0


def _load(path: str, args: argparse.Namespace, options: dict[str, Any]) -> Any:
    from molediff.inference import load_model

    model = load_model(path, expect_domain="conformers", sampler=args.sampler, steps=args.steps,
                       sampler_options=options, device=args.device)
    if args.max_heavy_atoms is not None:
        model.domain.max_heavy_atoms = int(args.max_heavy_atoms)
    return model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Generate 3D conformers (Å, explicit H) with the conformer diffusion model.",
    )
    p.add_argument("smiles", nargs="*", help="input SMILES (one or more)")
    p.add_argument("-i", "--input", default=None, help=".smi / .csv / .sdf file of molecules")
    p.add_argument("--smiles-column", default=None, help="CSV column holding SMILES")
    add_generation_args(p)
    return p


def expand_stereo(items: Sequence[Any]) -> list[Any]:
    """Every stereoisomer of inputs with unspecified stereo (``--enumerate-stereo``), each
    a :class:`MoleculeInput` named ``'<name> isomer k'``; other inputs unchanged."""
    from rdkit import Chem

    from molediff.domains.chem.inputs import MoleculeInput, enumerate_stereo, unspecified_stereo

    out: list[Any] = []
    for item in items:
        mol = item.mol if item.mol is not None else Chem.MolFromSmiles(item.smiles or "")
        if mol is None or not unspecified_stereo(mol):
            out.append(item)
            continue
        base = item.name or item.smiles
        for k, iso in enumerate(enumerate_stereo(mol), 1):
            smi = Chem.MolToSmiles(Chem.RemoveHs(iso))
            out.append(MoleculeInput(smiles=smi, name=f"{base} isomer {k}", mol=None,
                                     source=item.source))
    return out


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from molediff.utils.io import check_output_path

    check_output_path(args.output, allow_stdout=True)  # first: costs nothing, saves hours
    from molediff.domains.chem.inputs import molecules_from_arguments, read_molecule_file

    inputs: list[Any] = molecules_from_arguments(args.smiles)
    if args.input:
        inputs += read_molecule_file(args.input, args.smiles_column)
    if not inputs:
        raise UsageError("give at least one SMILES or --input FILE")
    if args.enumerate_stereo:
        inputs = expand_stereo(inputs)
    return run_generation(inputs, args)


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff conformers`` entry point; returns the exit status."""
    return run_entry(_main, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
