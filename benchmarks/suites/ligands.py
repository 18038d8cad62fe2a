"""Ligand suite: drug-like PDB ligands (CCD ideal geometries), the bundled diffusion model
vs RDKit ETKDGv3, same K, same run, with and without MMFF94 relaxation.

Data: N ligands of the test part of the fixed CCD scaffold split (``data/ccd_split``;
quick: 10, full: 40), drawn with a fixed permutation (seed 0) and converted from the
CCD bundled with biotite (:mod:`molediff.domains.chem.ccd`). Each method gets the
molecule graph (explicit H, stereo tags perceived from the ideal geometry, no
coordinates) and returns K = 10 conformers.

Metrics per method:

- ``cov_r@0.75`` / ``cov_r@1.25``: share of ligands with a generated conformer within
  0.75 / 1.25 Å of the single CCD ideal geometry (symmetry-aware heavy-atom RMSD after
  alignment, :func:`molediff.domains.conformers.metrics.ensemble_metrics`); a ligand
  without conformers counts as 0. ``amr_r``: mean over ligands with conformers of the
  best RMSD (Å); ``failures``: ligands without any conformer; ``diversity``: mean
  pairwise heavy-atom RMSD (Å) between a ligand's returned conformers, averaged;
- PoseBusters ``mol`` checks on every generated conformer
  (:mod:`molediff.domains.conformers.plausibility`, internal energy included): the
  all-pass rate and the rate of each check; the same checks on the CCD ideal geometries
  are the "reference" row;
- ``conformers_per_second`` (relaxed rows include the MMFF time) and ``stereo_ok``
  (share of returned conformers whose R/S and E/Z perceived from 3D match the input).

The CCD ideal geometry is one energy-minimised conformer, not the bioactive pose nor a
Boltzmann ensemble, so COV-R here measures recall of one low-energy conformer.
"""

from __future__ import annotations

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
from molediff.domains.chem.ccd import convert_components, load_ccd_split
from molediff.domains.conformers.evaluation import num_conformers, queries_of
from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT, summarize
from molediff.domains.conformers.metrics import (
    DRUGS_THRESHOLD,
    DRUGS_THRESHOLD_LOOSE,
    ensemble_diversity,
    ensemble_metrics,
)
from molediff.domains.conformers.plausibility import pass_rates, posebusters_checks
from molediff.inference import load_model

K = 10
THRESHOLDS = (DRUGS_THRESHOLD, DRUGS_THRESHOLD_LOOSE)
# short column names of the per-check table
_CHECK_LABELS = {
    "sanitization": "sanit.",
    "all_atoms_connected": "conn.",
    "bond_lengths": "bonds",
    "bond_angles": "angles",
    "internal_steric_clash": "clash",
    "aromatic_ring_flatness": "arom. flat",
    "non-aromatic_ring_non-flatness": "ring non-flat",
    "double_bond_flatness": "C=C flat",
    "internal_energy": "energy",
}


def test_ligands(n: int, seed: int = 0) -> tuple[list[str], list[Chem.Mol]]:
    """``n`` test-split ligands (IDs and molecules with their CCD ideal conformer)."""
    ids = load_ccd_split()["test"]
    order = np.random.default_rng(seed).permutation(len(ids))[:n]
    picked = [ids[int(k)] for k in order]
    return picked, convert_components(picked)


def _row(name: str, ids: list[str], refs: list[Chem.Mol], gens: list[Chem.Mol | None],
         seconds: float) -> dict[str, Any]:
    references = dict(zip(ids, refs, strict=True))
    generated = dict(zip(ids, gens, strict=True))
    cov = {t: ensemble_metrics(references, generated, threshold=t) for t in THRESHOLDS}
    n_conf = num_conformers(gens)
    rates = pass_rates(posebusters_checks(gens, energy=True))
    lo = cov[DRUGS_THRESHOLD]
    spread = np.array([ensemble_diversity(g) for g in gens])
    return {
        "method": name,
        "num_molecules": len(refs),
        "failures": lo.num_failures,
        "conformers": n_conf,
        **{f"cov_r@{t}": cov[t].cov_r_mean for t in THRESHOLDS},
        "amr_r": lo.amr_r_mean,
        "amr_r_median": lo.amr_r_median,
        "diversity": float(np.nanmean(spread)) if np.isfinite(spread).any() else float("nan"),
        "posebusters_all_pass": rates["all_pass"],
        "posebusters": rates,
        "seconds": float(seconds),
        "conformers_per_second": n_conf / seconds if seconds > 0 else float("nan"),
        "stereo_ok": stereo_ok(refs, gens),
    }


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def run(quick: bool) -> dict[str, Any]:
    """Run the suite; ``quick``: 10 ligands, else 40 (K = 10 each).

    40 because our side costs about a minute per ligand on one CPU thread: the network
    sees all atom pairs of a ~50-atom molecule, and ligands with several stereocentres
    need several rounds of resampling (the model picks relative configurations at random).
    """
    torch.set_num_threads(1)
    n = 10 if quick else 40
    ids, refs = test_ligands(n)
    queries = queries_of(refs)
    model = load_model(BUNDLED_CHECKPOINT)
    rows = []

    ours, results, t_ours = run_ours(model, queries, K, seed=0, batch_size=100)
    rows.append(_row("molediff (ours)", ids, refs, ours, t_ours))
    counts = summarize(results)
    relaxed, relax_dropped, t_relax = relax_keeping_stereo(ours, queries)
    rows.append(_row("molediff + MMFF", ids, refs, relaxed, t_ours + t_relax))
    for mmff in (False, True):
        gens, seconds = run_etkdg(queries, K, mmff=mmff)
        rows.append(_row("ETKDGv3 + MMFF" if mmff else "ETKDGv3", ids, refs, gens, seconds))
    reference = pass_rates(posebusters_checks(refs, energy=True))

    heavy = np.array([m.GetNumHeavyAtoms() for m in refs])
    header = (
        "| method | ligands | K | COV-R 0.75 Å | COV-R 1.25 Å | AMR-R (Å) | diversity (Å) | "
        "failed | PB all pass | conf/s | stereo ok |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['method']} | {r['num_molecules']} | {K} | {_fmt(r['cov_r@0.75'])} | "
        f"{_fmt(r['cov_r@1.25'])} | {_fmt(r['amr_r'])} | {_fmt(r['diversity'])} | {r['failures']} | "
        f"{_fmt(r['posebusters_all_pass'])} | {_fmt(r['conformers_per_second'], 1)} | "
        f"{_fmt(r['stereo_ok'], 3)} |"
        for r in rows
    ]
    checks = list(_CHECK_LABELS)
    pb_header = ("| PoseBusters pass rate | " + " | ".join(_CHECK_LABELS.values())
                 + " | all |\n|---" + "|---" * (len(checks) + 1) + "|\n")
    pb_rows = [(r["method"], r["posebusters"]) for r in rows] + [("CCD ideal (reference)", reference)]
    pb_lines = [
        f"| {name} | " + " | ".join(_fmt(rates[c]) for c in checks) + f" | {_fmt(rates['all_pass'])} |"
        for name, rates in pb_rows
    ]
    sc = counts
    ours_row, etkdg_row = rows[0], rows[2]
    verdict = (
        f"\nMeasured: ours covers {ours_row['cov_r@0.75']:.0%} of the ligands within 0.75 Å "
        f"({ours_row['cov_r@1.25']:.0%} within 1.25 Å) against ETKDGv3's "
        f"{etkdg_row['cov_r@0.75']:.0%} ({etkdg_row['cov_r@1.25']:.0%}); "
        f"{ours_row['posebusters_all_pass']:.0%} of its raw conformers pass every PoseBusters "
        f"check against ETKDGv3's {etkdg_row['posebusters_all_pass']:.0%}, and it returns "
        f"{ours_row['conformers_per_second']:.2f} conformers/s against "
        f"{etkdg_row['conformers_per_second']:.1f}. The model has only seen QM9 molecules (at "
        f"most 9 heavy atoms); {np.mean(heavy > 9):.0%} of these ligands are larger.\n"
    )
    note = verdict + (
        f"\n{len(refs)} ligands of the CCD scaffold-split test part ({heavy.min()}-{heavy.max()} "
        f"heavy atoms, median {int(np.median(heavy))}); reference: the CCD ideal geometry "
        f"(one conformer per ligand). Ours (bundled checkpoint, {model.trained_steps} steps in "
        f"its last training run, on QM9 only; {model.sampler.name}, {model.sampler.steps} steps): "
        f"{sc['sampled']} samples drawn for {len(refs) * K} slots; {sc['stereo_rejected']} "
        f"rejected by the stereo check and resampled, {sc['mirrored']} mirrored, "
        f"{sc['dropped']} slots dropped ({sc['failed']} ligands without any conformer); MMFF "
        f"changed the stereo of {relax_dropped} relaxed conformers (dropped). PB: PoseBusters "
        f"`mol` checks per generated conformer (the loading, InChI and radical checks are "
        f"left out of the table, all are in the JSON). One CPU thread on a shared 2-core "
        f"machine.\n"
    )
    return {
        "table": header + "\n".join(lines) + "\n\n" + pb_header + "\n".join(pb_lines) + "\n" + note,
        "rows": rows,
        "reference_posebusters": reference,
        "ligands": ids,
        "k": K,
        "num_molecules": len(refs),
        "stereo_counts": {k: v for k, v in sc.items() if isinstance(v, int)},
        "relax_stereo_dropped": relax_dropped,
        "sampler": model.sampler.name,
        "steps": model.sampler.steps,
        "sampler_options": model.sampler.options,
        "trained_steps": model.trained_steps,
        "checkpoint": str(model.path.name) if model.path is not None else None,
    }
