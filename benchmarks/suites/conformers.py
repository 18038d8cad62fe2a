"""Conformer suite: recall of the QM9 DFT geometry by the bundled diffusion model vs
RDKit ETKDGv3, with the same K, in the same run, with and without MMFF94 relaxation.

Data: N held-out molecules of the fixed QM9 test split (``data/qm9_split``; quick: 20,
full: 200), drawn with a fixed permutation (seed 0). Each method gets the molecule graph
(explicit H, stereo tags, no coordinates) and returns K = 10 conformers.

Metrics per method:

- ``mean_best_rmsd``: mean over molecules of the best-of-K symmetry-aware heavy-atom RMSD
  (Å, ``rdMolAlign.GetBestRMS``) to the DFT geometry; ``fraction_below``: share of
  molecules with best RMSD < 0.5 Å;
- ``diversity``: mean over molecules of the mean pairwise heavy-atom RMSD (Å) between
  the returned conformers (how spread the ensemble is; QM9 molecules are small and rigid,
  so a low-temperature sampler can recall the minimum better with less spread);
- ``conformers_per_second``: conformers returned / generation wall time (relaxed rows
  include the MMFF time);
- ``stereo_ok``: share of returned conformers whose R/S and E/Z, perceived from 3D, match
  the input (independent re-check); for ours also the generator's own counters (samples
  drawn, rejected by the stereo check and resampled, mirrored, dropped);
- ``posebusters_all_pass``: share of conformers passing every PoseBusters molecule check
  (:mod:`molediff.domains.conformers.plausibility`; bond lengths, angles, planarity,
  internal clashes; the slow internal-energy check is left out here, the ligand suite
  runs it), plus the per-check rates.

Ours: ``load_model(BUNDLED_CHECKPOINT)`` (bundled checkpoint, its sampler and steps), all molecules
batched together, CPU. "+MMFF" relaxes the same samples (ours) or uses ETKDG's built-in
MMFF pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from rdkit import Chem

from benchmarks.suites._conformer_common import (
    relax_keeping_stereo,
    run_etkdg,
    run_ours,
    stereo_ok,
)
from molediff.domains.conformers.evaluation import num_conformers, queries_of, reference_molecules
from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT, summarize
from molediff.domains.conformers.metrics import QM9_THRESHOLD, best_of_k_rmsd, ensemble_diversity
from molediff.domains.conformers.plausibility import pass_rates, posebusters_checks
from molediff.inference import load_model

K = 10


def _row(name: str, refs: list[Chem.Mol], gens: list[Chem.Mol | None], seconds: float) -> dict[str, Any]:
    best = np.array([best_of_k_rmsd(r, g) for r, g in zip(refs, gens, strict=True)])
    finite = best[np.isfinite(best)]
    n_conf = num_conformers(gens)
    rates = pass_rates(posebusters_checks(gens, energy=False))
    spread = np.array([ensemble_diversity(g) for g in gens])
    return {
        "method": name,
        "num_molecules": len(refs),
        "mean_best_rmsd": float(finite.mean()) if finite.size else float("nan"),
        "median_best_rmsd": float(np.median(finite)) if finite.size else float("nan"),
        "fraction_below": float((best < QM9_THRESHOLD).mean()),
        "failures": int((~np.isfinite(best)).sum()),
        "diversity": float(np.nanmean(spread)) if np.isfinite(spread).any() else float("nan"),
        "conformers": int(n_conf),
        "seconds": float(seconds),
        "conformers_per_second": n_conf / seconds if seconds > 0 else float("nan"),
        "stereo_ok": stereo_ok(refs, gens),
        "posebusters_all_pass": rates["all_pass"],
        "posebusters": rates,
    }


def run(quick: bool) -> dict[str, Any]:
    """Run the suite; ``quick``: 20 molecules, else 200 (K = 10 each)."""
    torch.set_num_threads(1)
    n = 20 if quick else 200
    refs = reference_molecules(n)
    queries = queries_of(refs)
    model = load_model(BUNDLED_CHECKPOINT)
    rows = []

    # ours, raw and relaxed (the same samples; relaxation drops conformers whose stereo
    # it changed, as generating with relax=True does)
    ours, results, t_ours = run_ours(model, queries, K)
    rows.append(_row("molediff (ours)", refs, ours, t_ours))
    stereo_counts = summarize(results)
    relaxed, relax_dropped, t_relax = relax_keeping_stereo(ours, queries)
    rows.append(_row("molediff + MMFF", refs, relaxed, t_ours + t_relax))

    # ETKDGv3, raw and with its MMFF pass
    for mmff in (False, True):
        gens, seconds = run_etkdg(queries, K, mmff=mmff)
        rows.append(_row("ETKDGv3 + MMFF" if mmff else "ETKDGv3", refs, gens, seconds))

    header = ("| method | molecules | K | mean best RMSD (Å) | median | < 0.5 Å | diversity (Å) | "
              "conf/s | stereo ok | PoseBusters pass |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [
        f"| {r['method']} | {r['num_molecules']} | {K} | {r['mean_best_rmsd']:.3f} | "
        f"{r['median_best_rmsd']:.3f} | {r['fraction_below']:.2f} | {r['diversity']:.3f} | "
        f"{r['conformers_per_second']:.1f} | {r['stereo_ok']:.3f} | {r['posebusters_all_pass']:.3f} |"
        for r in rows
    ]
    sc = stereo_counts
    opts = ", ".join(f"{k}={v:g}" for k, v in model.sampler.options.items())
    note = (
        f"\nOurs ({model.sampler.name}, {model.sampler.steps} steps{', ' + opts if opts else ''}; "
        f"checkpoint trained {model.trained_steps} steps in its last run): {sc['sampled']} samples "
        f"drawn for {len(refs) * K} slots; {sc['mirrored']} accepted as their mirror image, "
        f"{sc['stereo_rejected']} rejected by the stereo check and resampled, {sc['dropped']} "
        f"slots left empty; MMFF relaxation changed the stereo of {relax_dropped} of them "
        f"(dropped, as `--relax` does). PoseBusters: molecule checks without the energy check. "
        f"QM9 test split, one CPU thread on a shared 2-core machine.\n"
    )
    return {
        "table": header + "\n".join(lines) + "\n" + note,
        "rows": rows,
        "k": K,
        "num_molecules": len(refs),
        "stereo_counts": {k: v for k, v in sc.items() if isinstance(v, int | float)
                          and not (isinstance(v, float) and math.isnan(v))},
        "relax_stereo_dropped": relax_dropped,
        "sampler": model.sampler.name,
        "sampler_options": dict(model.sampler.options),
        "steps": model.sampler.steps,
        "trained_steps": model.trained_steps,
    }
