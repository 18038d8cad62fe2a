"""``molediff pointclouds``: generate 3D shapes and export watertight meshes (PLY/OBJ/GLB/STL).

Examples::

    molediff pointclouds num_samples=4                       # bundled model -> pointclouds_out/
    molediff pointclouds num_samples=8 condition=object out=shapes
    molediff pointclouds condition=[random,object] guidance=cfg guidance.scale=2
    molediff pointclouds checkpoint=run/checkpoints/last.ckpt formats=[glb,stl]

Options are Hydra ``key=value`` overrides of ``conf/pointclouds.yaml``. Every generated
point cloud is meshed (voxel closing -> marching cubes -> Taubin smoothing, convex hull as
the fallback) and checked (one watertight body); failures are resampled up to
``max_rounds`` times, then dropped and counted in the summary line. Options and the output
directory are checked before the model is loaded; the directory is written all or nothing.
Exit status: 0 on success, 1 when no shape passed, 2 on usage, output or checkpoint errors.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from molediff.utils.entry import run_entry
from molediff.utils.errors import UsageError

PROG = "molediff pointclouds"
#: config groups of conf/pointclouds.yaml (null unless chosen on the command line)
GROUPS = {"sampler", "schedule", "guidance"}
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "pointclouds.pt"


def compose(overrides: Sequence[str]) -> Any:
    """``conf/pointclouds.yaml`` with the overrides (one :class:`UsageError` if they do not
    compose)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from molediff.utils.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return hydra_compose(config_name="pointclouds", overrides=list(overrides))
    except Exception as exc:  # noqa: BLE001 - Hydra's parse / composition errors
        raise UsageError(f"bad option: {str(exc).splitlines()[0]}") from None


def check_config(cfg: Any) -> dict[str, Any]:
    """Validate every plain option before anything heavy is imported."""
    from omegaconf import OmegaConf

    from molediff.domains.pointclouds.domain import check_num_points
    from molediff.domains.pointclouds.export import check_formats
    from molediff.utils.validate import positive_int

    # the group options (sampler, schedule, guidance) are absent unless chosen
    known = set(OmegaConf.to_container(compose([]), resolve=False)) | GROUPS  # type: ignore[arg-type]
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    opts = {k: positive_int(cfg[k], k) for k in ("num_samples", "batch_size", "torch_threads",
                                                  "max_rounds")}
    if cfg.get("steps") is not None:
        opts["steps"] = positive_int(cfg.steps, "steps")
    if cfg.get("num_points") is not None:  # the network's kNN k is checked once it is known
        opts["num_points"] = check_num_points(cfg.num_points)
    for k in ("mesh", "pose"):
        if not isinstance(cfg[k], bool):
            raise UsageError(f"{k} must be true or false, got {cfg[k]!r}")
    fmts = cfg.formats
    fmts = [fmts] if isinstance(fmts, str) else list(fmts)
    opts["formats"] = check_formats(fmts)
    cond = cfg.condition
    opts["condition"] = OmegaConf.to_container(cond) if OmegaConf.is_config(cond) else cond
    return opts


def check_num_points_for(checkpoint: str | Path, num_points: int) -> None:
    """Refuse ``num_points`` the checkpoint's network cannot sample (not more than its
    kNN k), reading only the stored config: the model is not built yet.

    Raises:
        UsageError: too few points for the network's kNN edges.
        CheckpointError: an unreadable checkpoint or one of another domain.
    """
    from molediff.domains.pointclouds.domain import check_num_points, model_knn_k
    from molediff.inference import checkpoint_config, load_checkpoint

    cfg = checkpoint_config(load_checkpoint(checkpoint, expect_domain="pointclouds"))
    check_num_points(num_points, model_knn_k(cfg.get("model")))


def summary_line(samples: Any, seconds: float) -> str:
    """``N shapes (M requested; dropped D, resampled R; watertight single body W/N)``."""
    meshed = [s.mesh for s in samples if s.mesh is not None]
    text = f"{len(samples)} shapes in {seconds:.1f} s ({samples.requested} requested"
    text += f"; dropped {samples.dropped}, resampled {samples.resampled}"
    if meshed:
        text += (f"; watertight single body {sum(m.ok for m in meshed)}/{len(meshed)}, "
                 f"voxel {sum(m.method == 'voxel' for m in meshed)}, "
                 f"convex hull {sum(m.method == 'convex_hull' for m in meshed)}")
    if samples.failures:
        text += "; failed checks: " + ", ".join(f"{k} {v}" for k, v in samples.failures.items())
    return text + ")"


def run(cfg: Any) -> dict[str, Any]:
    """Check, load, generate, export; returns the metrics written to ``metrics.json``."""
    from molediff.utils.io import check_output_dir

    opts = check_config(cfg)
    out = check_output_dir(cfg.out)  # before any model work
    import torch

    from molediff.inference import load_model
    from molediff.utils.io import write_json
    from molediff.utils.publish import publish

    torch.set_num_threads(opts["torch_threads"])
    checkpoint = cfg.checkpoint or BUNDLED_CHECKPOINT
    if "num_points" in opts:
        check_num_points_for(checkpoint, opts["num_points"])
    model = load_model(checkpoint, expect_domain="pointclouds",
                       sampler=cfg.get("sampler"), steps=opts.get("steps"),
                       schedule=cfg.get("schedule"), guidance=cfg.get("guidance"),
                       device=cfg.device)
    domain = model.domain
    if "num_points" in opts:
        domain.num_points = opts["num_points"]  # the domain checks it again (its kNN k)
    domain.pose_prior = bool(cfg.pose)
    domain.parse_condition(opts["condition"], 1)  # an unknown class fails before sampling
    t0 = time.perf_counter()
    samples = model.generate(opts["num_samples"], condition=opts["condition"],
                             seed=int(cfg.seed), batch_size=opts["batch_size"],
                             progress=not cfg.quiet, max_rounds=opts["max_rounds"],
                             mesh=bool(cfg.mesh))
    seconds = time.perf_counter() - t0
    from molediff.domains.pointclouds.export import asset_metrics, export_shapes

    files = publish(out, lambda tmp: export_shapes(samples, tmp, formats=opts["formats"]))
    result = asset_metrics(samples) | model.stats | {
        "checkpoint": str(checkpoint), "points": domain.num_points,
        "sampler": model.sampler.name, "steps": model.sampler.steps, "seconds": seconds,
        "failed_checks": dict(samples.failures)}
    files.append(write_json(out / "metrics.json", result))
    if not cfg.quiet:
        print(f"{PROG}: {summary_line(samples, seconds)}", file=sys.stderr)
        print(f"{PROG}: wrote {out}: " + ", ".join(p.name for p in files), file=sys.stderr)
    return result


def _main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise UsageError(f"options are key=value (got {' '.join(bad)}); see {PROG} --help")
    run(compose(argv))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff pointclouds`` entry point; returns the exit status."""
    return run_entry(_main, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
