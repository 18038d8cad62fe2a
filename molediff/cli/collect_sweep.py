"""Collect a Hydra multirun directory into one table and one plot.

For every job directory (``<sweep>/<job_num>/``) it reads the overrides Hydra recorded
(``.hydra/overrides.yaml``) and the final ``metrics.json``, and writes into the sweep
directory (or ``--out``):

- ``sweep.csv``: one row per job: ``job``, ``status`` (``ok``; ``failed``: no
  ``metrics.json``; ``invalid``: unreadable ``metrics.json``), one column per override
  key, one column per numeric metric (all of them, whatever ``--metrics`` says);
- ``sweep.md``: a markdown table of the overrides that vary between jobs and the metrics
  (``--metrics`` selects them); the constant overrides are listed above it;
- ``sweep.png``: one panel per metric (see *Plot* below).

The three files are rendered in memory first and only then written (each atomically), so
either all three are written or the command fails with an error and writes nothing.

Column names (collisions)
    Overrides keep their key (``sampler``, ``steps``, ``sampler.steps``). A metric whose
    name is also an override key (``molediff evaluate`` writes ``steps`` into
    ``metrics.json``; a sweep over ``steps=5,10,20`` records the override ``steps``) is
    shown once, as the override column, when the two agree (numerically) in every job that
    has the metric; otherwise the metric column is renamed ``metric:<name>`` (and an
    override named ``job`` or ``status`` becomes ``override:<name>``). ``sweep.md`` notes
    every merge and rename. Non-numeric metrics (paths, names, lists) and booleans are left
    out; ``null`` / missing metrics are empty cells.

Plot
    *Lines* when there is a numeric x axis: the swept numeric override (the one named
    ``steps``, else one ending in ``.steps``, else the first numeric override that varies)
    runs along each line, and every combination of the other varying overrides is one line
    (e.g. ``sampler=euler`` / ``heun`` / ``dpmpp_2m``). The x values are the NFE metric
    (``nfe``, else a metric ending in ``_nfe`` such as ``sample_nfe``) when it varies, else
    that override. ``--x KEY`` picks the x axis (an override key or a metric). Metrics that
    are constant over the sweep are not plotted unless asked for with ``--metrics``.
    *Bars* (one bar per job, per metric) when nothing numeric varies.

Usage: ``molediff collect-sweep outputs/evaluate/multiruns/<date_time> [--metrics a,b]
[--x KEY] [--out DIR]`` (also ``molediff-collect-sweep`` and ``scripts/collect_sweep.py``).
Errors (no such directory, no jobs, unknown ``--metrics`` / ``--x``) print one line
``molediff collect-sweep: error: ...`` on stderr and exit with status 2 (an unexpected
failure, a bug: one ``internal error`` line, status 1; ``MOLEDIFF_DEBUG=1`` shows the
traceback). Runs automatically at the end of every sweep (``conf/hydra/default.yaml``
registers :class:`CollectSweepCallback`).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from molediff.utils.errors import MolediffError
from molediff.utils.io import atomic_write_bytes

PROG = "molediff collect-sweep"
_SKIP_OVERRIDE_PREFIXES = ("hydra.", "hydra/")
#: columns every table starts with; an override or metric of the same name is renamed
RESERVED = ("job", "status")
METRIC_PREFIX = "metric:"
OVERRIDE_PREFIX = "override:"
#: at most this many metric panels in sweep.png (a training sweep logs dozens of metrics)
MAX_PANELS = 12


class SweepError(MolediffError):
    """A sweep directory that cannot be tabulated, or an option that does not fit it."""


@dataclass
class Sweep:
    """The collected jobs of a sweep.

    Attributes:
        rows: one dict per job, keyed by column name (``job``, ``status``, overrides, metrics).
        overrides: override column names, in order of first appearance.
        metrics: numeric metric column names, in order of first appearance.
        metric_names: raw metric name -> its column (the override column when merged).
        merged: metric names shown once, as the override column of the same name.
        renamed: raw metric/override name -> prefixed column name, for every collision.
    """

    rows: list[dict[str, Any]]
    overrides: list[str]
    metrics: list[str]
    metric_names: dict[str, str] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlotPlan:
    """What ``sweep.png`` shows.

    Attributes:
        kind: ``"lines"`` (metric against ``x``, one line per ``groups`` combination) or
            ``"bars"`` (one bar per job).
        x: the column on the x axis (lines only).
        trace: the numeric override that runs along each line (None: none varies).
        groups: the overrides whose values pick the line.
        metrics: the metric columns, one panel each.
    """

    kind: str
    x: str | None
    trace: str | None
    groups: tuple[str, ...]
    metrics: tuple[str, ...]


# ------------------------------------------------------------------ collecting
def _job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [p for p in sweep_dir.iterdir()
            if p.is_dir() and (p / ".hydra" / "overrides.yaml").is_file()]
    return sorted(jobs, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def _parse_overrides(path: Path) -> dict[str, str]:
    try:
        items = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as exc:
        raise SweepError(
            f"{path}: not a YAML list of overrides ({exc.__class__.__name__})"
        ) from exc
    if not isinstance(items, list):
        raise SweepError(f"{path}: not a YAML list of overrides")
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not sep or key == "hydra" or key.startswith(_SKIP_OVERRIDE_PREFIXES):
            continue
        out[key] = value
    return out


def _read_metrics(path: Path) -> tuple[str, dict[str, float]]:
    """``(status, numeric metrics)`` of one job."""
    if not path.is_file():
        return "failed", {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "invalid", {}
    if not isinstance(raw, dict):
        return "invalid", {}
    metrics: dict[str, float] = {}
    for k, v in raw.items():
        # bool is an int subclass, but a flag is not something to tabulate or plot
        if isinstance(v, bool) or not isinstance(v, int | float | type(None)):
            continue
        metrics[str(k)] = float("nan") if v is None else float(v)
    return "ok", metrics


def _unique(name: str, prefix: str, taken: set[str]) -> str:
    col = prefix + name
    n = 2
    while col in taken:
        col, n = f"{prefix}{name}#{n}", n + 1
    return col


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _agrees(override: Any, metric: float) -> bool:
    """Whether a recorded override value (a string) and a metric value are the same number."""
    if metric != metric:  # a null metric says nothing either way
        return True
    number = _as_float(override)
    return number is not None and math.isclose(number, metric, rel_tol=1e-9, abs_tol=1e-12)


def collect(sweep_dir: str | Path) -> Sweep:
    """Read every job of ``sweep_dir`` (see the module docstring for the column rules).

    Raises:
        SweepError: ``sweep_dir`` is not a directory, or an ``overrides.yaml`` is not a list.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"no such sweep directory: {sweep_dir}")
    jobs: list[tuple[str, dict[str, str], str, dict[str, float]]] = []
    override_keys: list[str] = []
    metric_keys: list[str] = []
    for job in _job_dirs(sweep_dir):
        overrides = _parse_overrides(job / ".hydra" / "overrides.yaml")
        status, metrics = _read_metrics(job / "metrics.json")
        override_keys += [k for k in overrides if k not in override_keys]
        metric_keys += [k for k in metrics if k not in metric_keys]
        jobs.append((job.name, overrides, status, metrics))

    taken = set(RESERVED)
    override_col: dict[str, str] = {}
    renamed: dict[str, str] = {}
    for key in override_keys:
        col = key if key not in taken else _unique(key, OVERRIDE_PREFIX, taken)
        if col != key:
            renamed[key] = col
        override_col[key] = col
        taken.add(col)
    metric_col: dict[str, str] = {}
    merged: list[str] = []
    for key in metric_keys:
        if key in override_col and override_col[key] == key and all(
            key in o and _agrees(o[key], m[key]) for _, o, _, m in jobs if key in m
        ):
            merged.append(key)  # same numbers as the override: one column is enough
            continue
        col = key if key not in taken else _unique(key, METRIC_PREFIX, taken)
        if col != key:
            renamed[key] = col
        metric_col[key] = col
        taken.add(col)

    rows: list[dict[str, Any]] = []
    for name, overrides, status, metrics in jobs:
        row: dict[str, Any] = {"job": name, "status": status}
        row.update({override_col[k]: v for k, v in overrides.items()})
        row.update({metric_col[k]: v for k, v in metrics.items() if k in metric_col})
        rows.append(row)
    names = {**metric_col, **{k: override_col[k] for k in merged}}
    return Sweep(
        rows, list(override_col.values()), list(metric_col.values()), names, merged, renamed
    )


def sweep_frame(sweep: Sweep) -> Any:
    """The sweep as a ``pandas.DataFrame``: ``job``, ``status``, overrides (strings, None
    when a job lacks one), metrics (floats, NaN when missing)."""
    import pandas as pd

    cols = ["job", "status", *sweep.overrides, *sweep.metrics]
    data = {c: [r.get(c) for r in sweep.rows] for c in ["job", "status", *sweep.overrides]}
    for c in sweep.metrics:
        data[c] = [float(r.get(c, float("nan"))) for r in sweep.rows]
    df = pd.DataFrame(data, columns=cols)
    for c in sweep.metrics:
        df[c] = df[c].astype(float)
    return df


# ------------------------------------------------------------------ the plot
def _numeric(df: Any, col: str) -> Any | None:
    """``df[col]`` as floats if every present value is a number, else None."""
    import pandas as pd

    present = df[col].notna()
    if not present.any():
        return None
    values = pd.to_numeric(df[col].where(present), errors="coerce").astype(float)
    if values[present].isna().any():
        return None
    return values


def _varies(values: Any) -> bool:
    return values.dropna().nunique() > 1


def _nfe_column(metrics: Sequence[str]) -> str | None:
    if "nfe" in metrics:
        return "nfe"
    return next((m for m in metrics if m.endswith("_nfe")), None)


def plan_plot(
    df: Any,
    overrides: Sequence[str],
    metrics: Sequence[str],
    *,
    x: str | None = None,
    y: Sequence[str] | None = None,
) -> PlotPlan:
    """Choose the plot (module docstring, *Plot*).

    Args:
        df: the sweep (:func:`sweep_frame`).
        overrides: its override columns.
        metrics: all its metric columns (where the NFE metric is looked for).
        x: a column for the x axis (``--x``); None: choose.
        y: the metrics to plot; None: those that vary between jobs (all, if none varies).

    Raises:
        SweepError: ``x`` is not a column or not numeric.
    """
    varying = [c for c in overrides if _varies(df[c])]
    numeric = [c for c in varying if _numeric(df, c) is not None]
    trace = (
        "steps" if "steps" in numeric
        else next((c for c in numeric if c.endswith(".steps")), numeric[0] if numeric else None)
    )
    if x is not None:
        if x not in overrides and x not in metrics:
            known = ", ".join([*overrides, *metrics]) or "none"
            raise SweepError(f"--x {x}: no such override or metric (known: {known})")
        values = _numeric(df, x)
        if values is None or values.dropna().empty:
            raise SweepError(f"--x {x}: not numeric")
        if x in overrides:
            trace = x
    else:
        nfe = _nfe_column(metrics)
        if nfe is not None and _varies(df[nfe]):
            x = nfe
        else:
            x = trace
    if y is None:
        shown = [m for m in metrics if m != x and df[m].notna().any()]
        y = [m for m in shown if _varies(df[m])] or shown
    y = [m for m in y if m != x][:MAX_PANELS]
    if x is None:
        return PlotPlan("bars", None, None, tuple(varying), tuple(y))
    groups = tuple(c for c in varying if c not in (x, trace))
    return PlotPlan("lines", x, trace, groups, tuple(y))


def _group_label(row: Any, groups: Sequence[str]) -> str:
    if not groups:
        return "all jobs"
    return ", ".join(f"{g}={'' if row[g] is None else row[g]}" for g in groups)


def plot_series(df: Any, plan: PlotPlan, metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """The lines of one panel: ``{label: (xs, ys)}``, points sorted by x, jobs without a
    value (failed, null metric) left out, lines in order of their first job."""
    if plan.kind != "lines" or plan.x is None:
        raise ValueError("plot_series needs a line plot (plan.kind == 'lines')")
    xs_all = _numeric(df, plan.x)
    if xs_all is None:
        raise SweepError(f"--x {plan.x}: not numeric")
    points: dict[str, list[tuple[float, float]]] = {}
    for i in df.index:
        label = _group_label(df.loc[i], plan.groups)
        xv, yv = float(xs_all[i]), float(df.at[i, metric])
        points.setdefault(label, [])
        if math.isfinite(xv) and math.isfinite(yv):
            points[label].append((xv, yv))
    out: dict[str, tuple[list[float], list[float]]] = {}
    for label, pts in points.items():
        if pts:
            pts.sort()
            out[label] = ([p[0] for p in pts], [p[1] for p in pts])
    return out


def render_plot(df: Any, plan: PlotPlan) -> Any:
    """The ``matplotlib`` figure of ``plan`` (no pyplot: no global state, any backend)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    panels = list(plan.metrics) or [None]
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    height = 3.6 if plan.kind == "lines" else 0.4 * len(df) + 2
    fig = Figure(figsize=(5 * ncol, height * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    labels = [_group_label(df.loc[i], plan.groups) or str(df.at[i, "job"]) for i in df.index]
    colors = {lab: f"C{k % 10}" for k, lab in enumerate(dict.fromkeys(labels))}
    for ax, m in zip(axes.flat, panels, strict=False):
        if m is None:
            ax.text(0.5, 0.5, "no numeric metrics", ha="center")
            ax.axis("off")
            continue
        ax.set_title(m, fontsize=9)
        if plan.kind == "bars":
            job_labels = [
                ", ".join(f"{c}={df.at[i, c]}" for c in plan.groups if df.at[i, c] is not None)
                or str(df.at[i, "job"])
                for i in df.index
            ]
            ax.barh(range(len(df)), df[m].astype(float).fillna(0.0).to_numpy())
            ax.set_yticks(range(len(df)), job_labels, fontsize=7)
            ax.invert_yaxis()
            continue
        series = plot_series(df, plan, m)
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", ms=4, label=label, color=colors.get(label))
        xs = sorted({v for xs_, _ in series.values() for v in xs_})
        # NFE / step budgets are usually geometric (5, 10, 20, 50): a log axis spaces them evenly
        if xs and xs[0] > 0 and xs[-1] / xs[0] >= 4:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        # ticks at the swept values; a metric's values (NFE 9 and 10) would overprint
        if plan.x == plan.trace and 0 < len(xs) <= 10:
            ax.set_xticks(xs)
        ax.set_xlabel(plan.x, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    first = axes.flat[0]
    if plan.kind == "lines" and first.get_lines():
        first.legend(fontsize=7, title=", ".join(plan.groups) or None, title_fontsize=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tight_layout warns on crowded figures; harmless
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------ the tables
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def _select_metrics(sweep: Sweep, names: Sequence[str]) -> list[str]:
    """Metric columns for ``--metrics`` (raw names or column names; merged ones are the
    override column already, so they add nothing)."""
    out: list[str] = []
    unknown: list[str] = []
    for name in names:
        col = name if name in sweep.metrics else sweep.metric_names.get(name)
        if col is None:
            unknown.append(name)
        elif col in sweep.metrics and col not in out:
            out.append(col)
    if unknown:
        known = ", ".join(sweep.metric_names) or "none (no job has metrics.json)"
        raise SweepError(f"--metrics: unknown metric(s) {', '.join(unknown)} (known: {known})")
    return out


def render_tables(
    sweep_dir: str | Path, metrics: Sequence[str] | None = None, x: str | None = None
) -> dict[str, bytes]:
    """``{"csv": ..., "md": ..., "png": ...}`` of a sweep, rendered in memory.

    Raises:
        SweepError: no such directory, no jobs, unknown ``metrics`` or ``x``.
    """
    sweep_dir = Path(sweep_dir)
    sweep = collect(sweep_dir)
    if not sweep.rows:
        raise SweepError(f"no Hydra job directories (*/.hydra/overrides.yaml) in {sweep_dir}")
    df = sweep_frame(sweep)
    mcols = _select_metrics(sweep, metrics) if metrics else sweep.metrics
    if x is not None and x not in sweep.overrides and x not in sweep.metrics:
        x = sweep.metric_names.get(x, x)  # a raw metric name that was renamed / merged

    # the markdown table shows the overrides that differ between jobs
    rows, ocols = sweep.rows, sweep.overrides
    varying = [c for c in ocols if len({r.get(c) for r in rows}) > 1] or ocols
    common = [f"`{c}={rows[0].get(c)}`" for c in ocols if c not in varying]
    shown = ["job", "status", *varying, *mcols]
    header = "| " + " | ".join(shown) + " |\n|" + "|".join("---" for _ in shown) + "|\n"
    body = "".join("| " + " | ".join(_fmt(r.get(c)) for c in shown) + " |\n" for r in rows)
    title = f"# Sweep {sweep_dir}\n\n{len(rows)} jobs"
    failed = sum(r["status"] != "ok" for r in rows)
    title += f" ({failed} without metrics)." if failed else "."
    title += f" Common overrides: {' '.join(common)}.\n\n" if common else "\n\n"
    notes = [f"`{k}`: the metric equals the override in every job; shown once."
             for k in sweep.merged]
    notes += [f"`{k}` is both an override and a metric; the metric is `{c}`."
              for k, c in sweep.renamed.items() if c.startswith(METRIC_PREFIX) and k in ocols]
    notes += [f"`{k}`: renamed `{c}` (a reserved column name)." for k, c in sweep.renamed.items()
              if k in RESERVED]
    md = title + header + body + ("\n" + "\n".join(f"- {n}" for n in notes) + "\n" if notes else "")

    plan = plan_plot(df, ocols, sweep.metrics, x=x, y=mcols if metrics else None)
    fig = render_plot(df, plan)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return {"csv": df.to_csv(index=False).encode(), "md": md.encode(), "png": buf.getvalue()}


def write_tables(
    sweep_dir: str | Path,
    out_dir: str | Path | None = None,
    metrics: Sequence[str] | None = None,
    x: str | None = None,
) -> dict[str, Path]:
    """Write ``sweep.csv``, ``sweep.md`` and ``sweep.png`` (all rendered before the first
    is written, each written atomically); return their paths.

    Raises:
        SweepError: see :func:`render_tables`, or the files cannot be written.
    """
    out_dir = Path(out_dir) if out_dir is not None else Path(sweep_dir)
    files = render_tables(sweep_dir, metrics, x)
    try:
        return {kind: atomic_write_bytes(out_dir / f"sweep.{kind}", data)
                for kind, data in files.items()}
    except OSError as exc:
        raise SweepError(f"cannot write the tables into {out_dir}: {exc}") from exc


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


def _one_line(message: object) -> str:
    # an exception text may span lines (a YAML parser's context); the error is one line
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff collect-sweep SWEEP_DIR [--out DIR] [--metrics a,b] [--x KEY]``; returns
    the exit status (2 on any error, reported as one line on stderr)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path,
                        help="a multirun directory (outputs/<task>/multiruns/<date_time>)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: the sweep directory)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics for sweep.md / sweep.png "
                             "(default: all numeric; sweep.csv always has all)")
    parser.add_argument("--x", default=None, metavar="KEY",
                        help="x axis of the plot: an override key or a metric "
                             "(default: the NFE metric if it varies, else the numeric override)")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        paths = write_tables(args.sweep_dir, args.out, metrics, args.x)
    except (MolediffError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        debug = os.environ.get("MOLEDIFF_DEBUG", "").strip().lower()
        if debug not in ("", "0", "false", "no", "off"):
            raise
        # a bug, not the user's fault: still one line (status 1, as for other molediff
        # commands), with the way to get the traceback
        print(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set MOLEDIFF_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    print(Path(paths["md"]).read_text())
    for kind, p in paths.items():
        print(f"{kind}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
