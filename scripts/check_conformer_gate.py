"""Quick tuning check of a conformer checkpoint on CCD *validation* ligands: how many get
conformers, and how many draws fail the geometry gate and the stereo check.

    python scripts/check_conformer_gate.py molediff/checkpoints/conformers_drugs.pt \
        --ligands 6 -k 4

Ligands: the validation part in a fixed random order (seed 1), those with only the
checkpoint's elements and at most ``--max-heavy-atoms`` heavy atoms. Two sampling rounds,
60 s per molecule. For the held-out numbers use the ligands benchmark suite
(``python -m benchmarks.run --only ligands``), not this.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from molediff.domains.chem.ccd import CCDLigands  # noqa: E402
from molediff.inference import load_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--ligands", type=int, default=6)
    ap.add_argument("-k", type=int, default=4, help="conformers per ligand")
    ap.add_argument("--max-heavy-atoms", type=int, default=40)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.checkpoint, expect_domain="conformers")
    elements = set(model.domain.elements)
    val = CCDLigands("valid")
    smiles: list[str] = []
    for i in np.random.default_rng(1).permutation(len(val)):
        mol = val.mol(int(i))
        if ({a.GetSymbol() for a in mol.GetAtoms()} <= elements
                and mol.GetNumHeavyAtoms() <= args.max_heavy_atoms):
            smiles.append(Chem.MolToSmiles(Chem.RemoveHs(mol)))
        if len(smiles) == args.ligands:
            break
    t0 = time.perf_counter()
    res = model.generate(args.k * len(smiles), condition=smiles, seed=0, max_rounds=2,
                         time_limit=60)
    seconds = time.perf_counter() - t0
    total = {key: sum(r.stats.get(key, 0) for r in res)
             for key in ("sampled", "geometry_rejected", "stereo_rejected")}
    print(f"{args.checkpoint}: {len(smiles)} ligands, K = {args.k}: {sum(r.ok for r in res)} with "
          f"conformers, {sum(r.num_conformers for r in res if r.ok)} conformers; "
          f"{total['sampled']} draws, {total['geometry_rejected']} failed the gate, "
          f"{total['stereo_rejected']} the stereo check; {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
