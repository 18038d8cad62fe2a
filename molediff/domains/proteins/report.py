"""Writing a design run: one PDB per design, a CSV of per-design metrics and a PNG of their
distributions, each written atomically (never half-written)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from molediff.domains.proteins.io import pdb_text
from molediff.utils.io import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from molediff.domains.proteins.domain import DesignSet

#: metrics shown in metrics.png (those a run has), with axis labels
PLOTTED = {
    "ca_ca_deviation": "CA–CA deviation from 3.80 Å (Å)",
    "raw_ca_ca_deviation": "CA–CA deviation before refinement (Å)",
    "ca_clashes": "CA clashes (< 3.0 Å)",
    "ramachandran_allowed": "share of φ/ψ in allowed regions",
    "radius_of_gyration": "radius of gyration (Å)",
    "helix": "helix fraction (DSSP)",
    "strand": "strand fraction (DSSP)",
    "coil": "coil fraction (DSSP)",
    "bond_deviation": "bond-length deviation (Å)",
    "motif_rmsd": "motif RMSD (Å)",
    "symmetry_rmsd": "symmetry RMSD (Å)",
    "tm_to_input": "TM-score to the input",
    "mpnn_log_likelihood": "ProteinMPNN log-likelihood per residue (nats)",
}


def design_name(index: int) -> str:
    return f"design_{index:04d}"


def remarks(samples: DesignSet, index: int, rounds: int) -> list[str]:
    """REMARK 250 lines: the run's settings, one per line, and the design's own."""
    lines = ["molediff design (poly-glycine backbone: N, CA, C, O)"]
    lines += [f"{k}: {v}" for k, v in samples.settings.items()]
    lines += [f"design: {index}", f"sampling rounds: {rounds}"]
    return lines


def write_report(samples: DesignSet, out_dir: Path) -> list[Path]:
    """``design_XXXX.pdb`` per design (and ``design_XXXX_traj.pdb``, one MODEL per sampler
    step, when the designs carry trajectories), ``designs.csv`` and ``metrics.png`` in
    ``out_dir``."""
    paths = []
    for d in samples.designs:
        text = pdb_text(d.coords, d.chain, remarks(samples, d.index, d.rounds))
        paths.append(atomic_write_text(out_dir / f"{design_name(d.index)}.pdb", text))
        if d.trajectory is not None:
            notes = [*remarks(samples, d.index, d.rounds),
                     f"trajectory: {len(d.trajectory) - 1} sampler steps (the network's clean "
                     "prediction), then the written design"]
            text = pdb_text(d.trajectory, d.chain, notes)
            paths.append(atomic_write_text(out_dir / f"{design_name(d.index)}_traj.pdb", text))
    keys = list(dict.fromkeys(k for d in samples.designs for k in d.metrics))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "chains", "rounds", "segments", *keys])
    for d in samples.designs:
        w.writerow([design_name(d.index), len(set(d.chain.tolist())), d.rounds,
                    "/".join(d.segments), *[_fmt(d.metrics.get(k)) for k in keys]])
    paths.append(atomic_write_text(out_dir / "designs.csv", buf.getvalue()))
    if any(d.sequences for d in samples.designs):
        paths.append(atomic_write_text(out_dir / "sequences.fasta", fasta(samples)))
    paths.append(atomic_write_bytes(out_dir / "metrics.png", metrics_png(samples)))
    return paths


def fasta(samples: DesignSet) -> str:
    """ProteinMPNN sequences of every design, best first, chains separated by ``/``:
    ``>design_0003_seq1 log_likelihood=-0.912`` (mean per residue, nats)."""
    lines = []
    for d in samples.designs:
        for k, (seq, ll) in enumerate(d.sequences, 1):
            lines += [f">{design_name(d.index)}_seq{k} log_likelihood={ll:.3f}", seq]
    return "\n".join(lines) + "\n"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def metrics_png(samples: DesignSet) -> bytes:
    """Histograms of the per-design metrics of :data:`PLOTTED` (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [k for k in PLOTTED if any(k in d.metrics for d in samples.designs)]
    cols = 3
    rows = max(1, (len(shown) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, k in zip(axes.flat, shown, strict=False):
        vals = [d.metrics[k] for d in samples.designs if k in d.metrics]
        ax.hist(vals, bins=min(20, max(5, len(vals) // 2)), color="#4477aa")
        ax.set_xlabel(PLOTTED[k], fontsize=8)
        ax.set_ylabel("designs", fontsize=8)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    c = samples.counts
    fig.suptitle(f"{c.get('returned', 0)} designs ({c.get('requested', 0)} requested, "
                 f"{c.get('resampled', 0)} resampled, {c.get('dropped', 0)} dropped)", fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    return out.getvalue()


__all__ = ["write_report", "metrics_png", "design_name", "remarks"]
