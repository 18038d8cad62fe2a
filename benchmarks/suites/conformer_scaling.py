"""Conformers of one molecule at a time, from small to the 64-heavy-atom limit: what a
chemist waits for and how much memory it takes.

For each molecule: ``molediff conformers --model auto -k 10`` as the command runs it (the
routed bundled model, the command's default ``--time-limit 60``), in a fresh interpreter
so the memory reading starts from a clean heap; seconds, conformers returned, any
message, peak RSS increase over the loaded model (VmHWM), the whole process's peak RSS;
and ETKDGv3 (raw, 10 conformers, one thread) in the same process.

Molecules: CCD scaffold-split test ligands, the first (in the ligands suite's order) in
each heavy-atom band up to the split's 50, then paclitaxel (62 heavy atoms), the largest
marketed drug under the limit that chemists commonly try.

    python -m benchmarks.run --only conformer_scaling
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.suites.nn import PeakRSS, _status_kb

K = 10
TIME_LIMIT = 60.0
#: heavy-atom bands of the CCD test ligands (inclusive)
BANDS = ((8, 12), (18, 22), (28, 32), (38, 42), (46, 50))
#: paclitaxel (taxol), PubChem CID 36314, 62 heavy atoms
PACLITAXEL = ("CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2OC(=O)C)C)O)"
              "OC(=O)C)OC(=O)c5ccccc5)(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)c6ccccc6)c7ccccc7)O)(C)C")


def molecules(quick: bool) -> list[tuple[str, str]]:
    """(name, SMILES) from small to large."""
    from rdkit import Chem

    from molediff.domains.chem.ccd import convert_components, load_ccd_split

    ids = load_ccd_split()["test"]
    order = np.random.default_rng(0).permutation(len(ids))
    bands = BANDS[::2] if quick else BANDS
    picked: list[tuple[str, str]] = []
    for lo, hi in bands:
        for k in order:
            mol = convert_components([ids[int(k)]])[0]
            if mol is not None and lo <= mol.GetNumHeavyAtoms() <= hi:
                picked.append((f"CCD {ids[int(k)]}", Chem.MolToSmiles(Chem.RemoveHs(mol))))
                break
    return [*picked, ("paclitaxel", PACLITAXEL)]


def probe(smiles: str) -> dict[str, Any]:
    """One molecule as the command runs it: ours, then ETKDGv3, in this process."""
    from rdkit import Chem

    from molediff.domains.conformers.baselines import etkdg_conformers
    from molediff.domains.conformers.generate import prepare_input
    from molediff.domains.conformers.routing import BUNDLED, generate_by_model, route
    from molediff.inference import load_model

    torch.set_num_threads(1)
    (name, idx), = route([smiles]).items()
    model = load_model(BUNDLED[name])
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        res, = generate_by_model([(model, idx)], [smiles], K, seed=0, time_limit=TIME_LIMIT)
        seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = etkdg_conformers(prepare_input(smiles), K, seed=0, mmff=False, num_threads=1)
    etkdg_seconds = time.perf_counter() - t0
    hwm = _status_kb("VmHWM")
    return {"heavy_atoms": Chem.MolFromSmiles(smiles).GetNumHeavyAtoms(), "model": res.model,
            "seconds": seconds, "conformers": res.mol.GetNumConformers() if res.ok else 0,
            "message": res.error or "; ".join(res.notes) or None,
            "peak_mib": mem.mib, "process_peak_mib": hwm / 1024 if hwm else float("nan"),
            "etkdg_seconds": etkdg_seconds,
            "etkdg_conformers": ref.GetNumConformers() if ref is not None else 0}


def probe_in_fresh_process(smiles: str) -> dict[str, Any]:
    """:func:`probe` in a new interpreter (a clean heap for the memory reading)."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "benchmarks.suites.conformer_scaling",
                          "--probe", smiles], capture_output=True, text=True, env=env,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(quick: bool) -> dict[str, Any]:
    """Run the suite; ``quick``: three CCD bands and paclitaxel."""
    rows = [{"molecule": name, "smiles": smi, **probe_in_fresh_process(smi)}
            for name, smi in molecules(quick)]
    header = ("| molecule | heavy atoms | model | ours s (K = 10) | conformers | message | "
              "peak RSS increase (MiB) | process peak RSS (MiB) | ETKDGv3 s (K = 10) |\n"
              "|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['molecule']} | {r['heavy_atoms']} | {r['model']} | {r['seconds']:.1f} | "
             f"{r['conformers']} | {r['message'] or '-'} | {r['peak_mib']:.0f} | "
             f"{r['process_peak_mib']:.0f} | {r['etkdg_seconds']:.2f} |" for r in rows]
    worst = max(rows, key=lambda r: r["seconds"])
    note = (f"\n\n`molediff conformers --model auto -k {K}` per molecule (default "
            f"`--time-limit {TIME_LIMIT:g}`), each in a fresh interpreter, one thread; the "
            f"slowest took {worst['seconds']:.1f} s ({worst['molecule']}, "
            f"{worst['heavy_atoms']} heavy atoms). Peak RSS increase: VmHWM over the "
            f"loaded model during generation; process peak: the interpreter's whole peak "
            f"(imports, model, generation, ETKDGv3). One CPU thread on a shared 2-core "
            f"machine.\n")
    return {"table": header + "\n".join(lines) + note, "rows": rows, "k": K,
            "time_limit": TIME_LIMIT, "max_seconds": worst["seconds"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--probe", required=True, help="SMILES of one molecule")
    print(json.dumps(probe(p.parse_args().probe)))
