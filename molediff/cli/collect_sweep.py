"""Collect a Hydra multirun directory into one table.

For every job directory (``<sweep>/<job_num>/``) it reads the overrides Hydra recorded
(``.hydra/overrides.yaml``) and the final ``metrics.json``, and writes into the sweep
directory (or ``--out``):

- ``sweep.csv``: one row per job: ``job``, ``status``, one column per override key,
  one column per numeric metric;
- ``sweep.md``: the same as a markdown table;
- ``sweep.png``: one panel per metric (bars per job, labelled by the swept values).

Usage: ``molediff collect-sweep outputs/train/multiruns/<date_time> [--metrics a,b]``
(also ``molediff-collect-sweep`` and ``scripts/collect_sweep.py``). Runs automatically at
the end of every sweep (``conf/hydra/default.yaml`` registers :class:`CollectSweepCallback`).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from molediff.utils.io import atomic_write_bytes, atomic_write_text

_SKIP_OVERRIDE_PREFIXES = ("hydra.", "hydra/")


def _job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra" / "overrides.yaml").is_file()]
    return sorted(jobs, key=lambda p: (0, int(p.name)) if p.name.isdigit() else (1, p.name))


def _parse_overrides(path: Path) -> dict[str, str]:
    items = yaml.safe_load(path.read_text()) or []
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not sep or key == "hydra" or key.startswith(_SKIP_OVERRIDE_PREFIXES):
            continue
        out[key] = value
    return out


def collect(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Rows (one per job), the override columns and the numeric metric columns."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"no such sweep directory: {sweep_dir}")
    rows: list[dict[str, Any]] = []
    override_cols: list[str] = []
    metric_cols: list[str] = []
    for job in _job_dirs(sweep_dir):
        row: dict[str, Any] = {"job": job.name}
        overrides = _parse_overrides(job / ".hydra" / "overrides.yaml")
        for k in overrides:
            if k not in override_cols:
                override_cols.append(k)
        row.update(overrides)
        mfile = job / "metrics.json"
        if mfile.is_file():
            metrics = json.loads(mfile.read_text())
            row["status"] = "ok"
            for k, v in metrics.items():
                if isinstance(v, bool) or not isinstance(v, int | float | type(None)):
                    continue
                row[k] = float("nan") if v is None else float(v)
                if k not in metric_cols:
                    metric_cols.append(k)
        else:
            row["status"] = "failed"
        rows.append(row)
    return rows, override_cols, metric_cols


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def write_tables(
    sweep_dir: str | Path, out_dir: str | Path | None = None, metrics: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write ``sweep.csv``, ``sweep.md`` and ``sweep.png``; return their paths."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else sweep_dir
    rows, ocols, mcols = collect(sweep_dir)
    if not rows:
        raise FileNotFoundError(f"no Hydra job directories (*/.hydra/overrides.yaml) in {sweep_dir}")
    if metrics:
        mcols = [m for m in metrics if m in mcols]
    cols = ["job", "status", *ocols, *mcols]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    paths = {"csv": atomic_write_text(out_dir / "sweep.csv", df.to_csv(index=False))}
    # the markdown table and the plot show the overrides that differ between jobs
    varying = [c for c in ocols if len({r.get(c) for r in rows}) > 1] or ocols
    common = [f"`{c}={rows[0].get(c)}`" for c in ocols if c not in varying]
    shown = ["job", "status", *varying, *mcols]
    header = "| " + " | ".join(shown) + " |\n|" + "|".join("---" for _ in shown) + "|\n"
    body = "".join("| " + " | ".join(_fmt(r.get(c)) for c in shown) + " |\n" for r in rows)
    title = f"# Sweep {sweep_dir}\n\n{len(rows)} jobs."
    title += f" Common overrides: {' '.join(common)}.\n\n" if common else "\n\n"
    paths["md"] = atomic_write_text(out_dir / "sweep.md", title + header + body)
    paths["png"] = _plot(df, varying, mcols, out_dir / "sweep.png")
    return paths


def _plot(df: Any, ocols: list[str], mcols: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    shown = [m for m in mcols if df[m].notna().any()][:12] or ["job"]
    labels = [
        ", ".join(f"{c}={df.at[i, c]}" for c in ocols if df.at[i, c] is not None) or str(df.at[i, "job"])
        for i in df.index
    ]
    ncol = min(3, len(shown))
    nrow = math.ceil(len(shown) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 0.4 * len(df) * nrow + 2), squeeze=False)
    for ax, m in zip(axes.flat, shown, strict=False):
        if m == "job":
            ax.text(0.5, 0.5, "no metrics", ha="center")
            continue
        ax.barh(range(len(df)), df[m].astype(float).fillna(0.0).to_numpy())
        ax.set_yticks(range(len(df)), labels, fontsize=7)
        ax.set_title(m, fontsize=9)
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object  # type: ignore[assignment,misc]


class CollectSweepCallback(_HydraCallback):  # type: ignore[misc,valid-type]
    """Hydra callback: tabulate the sweep when a multirun ends (never fails the sweep)."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        try:
            paths = write_tables(config.hydra.sweep.dir)
            print(f"[molediff] sweep table: {paths['md']}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001
            print(f"[molediff] could not collect the sweep: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff-collect-sweep SWEEP_DIR [--out DIR] [--metrics a,b]``."""
    parser = argparse.ArgumentParser(prog="molediff collect-sweep", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (outputs/<task>/multiruns/<date_time>)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: the sweep directory)")
    parser.add_argument("--metrics", default=None, help="comma-separated metrics to keep (default: all numeric)")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        paths = write_tables(args.sweep_dir, args.out, args.metrics.split(",") if args.metrics else None)
    except FileNotFoundError as exc:
        print(f"molediff: error: {exc}", file=sys.stderr)
        return 2
    print(Path(paths["md"]).read_text())
    for kind, p in paths.items():
        print(f"{kind}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
