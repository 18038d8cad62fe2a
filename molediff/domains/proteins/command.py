"""``molediff design``: protein backbones (PDB), motif scaffolding, symmetric oligomers.

Examples (Hydra-style ``key=value`` overrides of ``conf/design.yaml``)::

    molediff design design.length=100 design.num_designs=10
    molediff design design.length=80-120 design.num_designs=100 output_dir=runs/free
    molediff design design.contig='10-20/A15-30/30-40' design.input=motif.pdb
    molediff design design.symmetry=C3 design.length=270 design.num_designs=4
    molediff design design.input=my.pdb design.partial_sigma=2 design.num_designs=8

Writes ``output_dir/design_XXXX.pdb`` (poly-glycine N, CA, C, O; chains A, B, ...; REMARK
250 lines with the run's settings), ``designs.csv`` (per-design metrics),
``metrics.png`` and, with ``design.sequences=N``, ``sequences.fasta`` (N ProteinMPNN
sequences per design, best first) and, with ``design.trajectory=true``,
``design_XXXX_traj.pdb`` (one MODEL per sampler step: the network's clean prediction,
then the written design). Every setting, the optional packages of the ``proteins`` extra
(biotite, pydssp), the input structure, the contig and the output directory are checked
before the model is loaded; one clear message and a non-zero exit otherwise
(1 bad input data, 2 bad usage / output / checkpoint), and nothing is written. Every
design passes the backbone check (resampled, then dropped; counted in the summary line).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from molediff.utils.entry import run_entry
from molediff.utils.errors import InputError, UsageError

PROG = "molediff design"
#: optional packages every run needs (the ``proteins`` extra of pyproject.toml): biotite
#: reads input structures and writes the PDBs, pydssp gives the secondary structure
PROTEINS_EXTRA = (("biotite", "PDB / mmCIF input and output"),
                  ("pydssp", "secondary structure of every design"))
#: the checkpoint used unless ``checkpoint=`` is given
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "proteins.pt"


def compose(overrides: Sequence[str]) -> Any:
    """``conf/design.yaml`` with ``overrides``; a bad override is a :class:`UsageError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from molediff.utils.config import CONFIG_DIR

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise UsageError(f"expected key=value overrides (e.g. design.length=100), got {bad[0]!r}")
    try:
        with initialize_config_dir(config_dir=str(Path(CONFIG_DIR).resolve()), version_base="1.3"):
            return hydra_compose(config_name="design", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise UsageError(f"bad override: {msg}") from None


def require_proteins_extra() -> None:
    """Raise one :class:`UsageError` naming every missing package of the ``proteins``
    extra and the install command. Checked with the settings, because both packages are
    otherwise first imported after sampling (metrics, export): a run without them would
    spend its sampling time and then fail."""
    import importlib

    missing = []
    for name, use in PROTEINS_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(f"{name!r} ({use})")
    if missing:
        raise UsageError(f"{PROG} needs the optional package(s) {', '.join(missing)}, which "
                         "are not installed: install the proteins extra, pip install -c "
                         "constraints.txt -e '.[proteins]'")


def check_settings(cfg: Any) -> dict[str, Any]:
    """Plain checks of the numbers and names (one :class:`UsageError` naming the key), and
    that the ``proteins`` extra is installed (:func:`require_proteins_extra`)."""
    from molediff.utils.validate import positive_int

    require_proteins_extra()
    d = cfg.design
    for key in ("num_designs", "max_rounds", "batch_size"):
        positive_int(d[key], f"design.{key}")
    sequences = d.get("sequences", 0)
    if isinstance(sequences, bool) or not isinstance(sequences, int) or sequences < 0:
        raise UsageError(f"design.sequences must be an integer >= 0, got {sequences!r}")
    if sequences:
        from molediff.domains.proteins.designability import require_proteinmpnn

        require_proteinmpnn()
    positive_int(cfg.threads, "threads")
    if cfg.steps is not None:
        positive_int(cfg.steps, "steps")
    for key in ("refine", "trajectory"):
        if not isinstance(d[key], bool):
            raise UsageError(f"design.{key} must be true or false, got {d[key]!r}")
    if not isinstance(d.seed, int):
        raise UsageError(f"design.seed must be an integer, got {d.seed!r}")
    return {"num_designs": int(d.num_designs), "max_rounds": int(d.max_rounds),
            "batch_size": int(d.batch_size), "seed": int(d.seed), "refine": bool(d.refine),
            "sequences": int(sequences), "trajectory": bool(d.trajectory)}


def build_design_request(cfg: Any, max_length: int = 1000) -> Any:
    """Read the input structure (if any) and validate the request, before any model work."""
    from molediff.domains.proteins.io import read_backbone
    from molediff.domains.proteins.request import build_request

    d = cfg.design
    structure = None
    if d.input not in (None, ""):
        chains = None if d.chains in (None, "") else str(d.chains)
        structure = read_backbone(str(d.input), chains)
    elif d.chains not in (None, ""):
        raise UsageError("design.chains selects chains of design.input; give design.input too")
    length = d.length
    if length is not None and not isinstance(length, int | str):
        length = list(length)
    return build_request(length=length, contig=d.contig, symmetry=d.symmetry,
                         structure=structure, partial_sigma=d.partial_sigma,
                         max_length=max_length)


def summary_line(counts: dict[str, int], seconds: float) -> str:
    fails = ", ".join(f"{k[len('failed_'):]} {v}" for k, v in sorted(counts.items())
                      if k.startswith("failed_"))
    return (f"{counts.get('returned', 0)} of {counts.get('requested', 0)} designs passed the "
            f"backbone check ({counts.get('resampled', 0)} resampled, "
            f"{counts.get('dropped', 0)} dropped; failed checks: {fails or 'none'}) "
            f"in {seconds:.1f} s")


def _main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    cfg = compose(argv)
    opts = check_settings(cfg)
    from molediff.utils.io import check_output_dir

    out_dir = Path(str(cfg.output_dir))
    existed = out_dir.exists()
    check_output_dir(out_dir)
    try:
        return _run(cfg, opts, out_dir)
    except BaseException:
        if not existed and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # nothing half-written: not even an empty directory
        raise


def _run(cfg: Any, opts: dict[str, Any], out_dir: Path) -> int:
    request = build_design_request(cfg)
    import torch

    from molediff.inference import load_model

    torch.set_num_threads(int(cfg.threads))
    ckpt = Path(str(cfg.checkpoint)) if cfg.checkpoint else BUNDLED_CHECKPOINT
    model = load_model(ckpt, expect_domain="proteins", sampler=cfg.sampler, steps=cfg.steps,
                       device=cfg.device)
    request = build_design_request(cfg, model.domain.max_design_length)  # the model's limit
    if request.structure is not None and request.structure.notes and not cfg.quiet:
        for note in request.structure.notes:
            print(f"{PROG}: note: {request.structure.source}: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    designs = model.generate(opts["num_designs"], condition=request, seed=opts["seed"],
                             batch_size=opts["batch_size"], progress=not cfg.quiet,
                             max_rounds=opts["max_rounds"], refine=opts["refine"],
                             trajectory=opts["trajectory"])
    seconds = time.perf_counter() - t0
    if not designs.designs:
        raise InputError("no design passed the backbone check; nothing written ("
                         + summary_line(designs.counts, seconds) + ")")
    designs.settings.update({"checkpoint": ckpt.name, "sampler": model.sampler.name,
                             "steps": str(model.sampler.steps)})
    if opts["sequences"]:
        from molediff.domains.proteins.designability import add_sequences

        add_sequences(designs.designs, opts["sequences"], seed=opts["seed"])
    paths = model.domain.export(designs, out_dir)
    if not cfg.quiet:
        pdbs = [p.name for p in paths if p.suffix == ".pdb" and not p.stem.endswith("_traj")]
        trajs = [p.name for p in paths if p.stem.endswith("_traj")]
        rest = ", ".join(p.name for p in paths if p.suffix != ".pdb")
        if trajs:
            rest = (f"{trajs[0]} .. {trajs[-1]} ({len(trajs)} trajectory PDB files), "
                    if len(trajs) > 1 else f"{trajs[0]}, ") + rest
        shown = pdbs[0] if len(pdbs) == 1 else f"{pdbs[0]} .. {pdbs[-1]} ({len(pdbs)} PDB files)"
        print(f"{PROG}: " + summary_line(designs.counts, seconds), file=sys.stderr)
        print(f"wrote {out_dir}/: {shown}, {rest}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff design`` entry point; returns the exit status."""
    return run_entry(_main, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
