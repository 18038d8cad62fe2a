"""Does picking K conformers out of a larger ETKDGv3 pool beat ETKDGv3's first K? On CCD
*validation* ligands, K = 10 out of a pool: the first K (plain ETKDGv3), farthest-point
by heavy-atom RMSD, the K the drug model's denoiser finds most typical (lowest denoising
error over a few noise levels), the K lowest MMFF94 energies, and the whole pool (the
ceiling). COV-R / AMR-R against both references.

    python scripts/tune_pool_selection.py --ligands 60 --pool 30

Ligands: the validation part in a fixed random order (seed 1, as
``scripts/tune_seeded_start.py``). One JSON line per selection on standard output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers
from torch_geometric.data import Batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.suites._conformer_common import run_etkdg  # noqa: E402
from benchmarks.suites.ligands import recall  # noqa: E402
from molediff.core.space import GraphSpace  # noqa: E402
from molediff.domains.chem.ccd import (  # noqa: E402
    convert_components,
    load_ccd_split,
    with_model_conformer,
)
from molediff.domains.chem.featurize import mol_to_data  # noqa: E402
from molediff.domains.conformers.evaluation import queries_of  # noqa: E402
from molediff.domains.conformers.generate import BUNDLED_DRUGS_CHECKPOINT  # noqa: E402
from molediff.inference import load_model  # noqa: E402


def heavy_positions(mol: Chem.Mol) -> np.ndarray:
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    return np.stack([c.GetPositions()[heavy] for c in mol.GetConformers()])


def rmsd_matrix(x: np.ndarray) -> np.ndarray:
    """Pairwise RMSD (Å) after optimal superposition, no symmetry, ``x [M, N, 3]``."""
    x = x - x.mean(1, keepdims=True)
    out = np.zeros((len(x), len(x)))
    for i in range(len(x)):
        u, s, vt = np.linalg.svd(np.einsum("nj,mnk->mjk", x[i], x))
        s[:, 2] *= np.sign(np.linalg.det(u @ vt))
        e = (x[i] ** 2).sum() + (x ** 2).sum((1, 2)) - 2 * s.sum(1)
        out[i] = np.sqrt(np.maximum(e, 0) / x.shape[1])
    return out


def farthest_point(mol: Chem.Mol, k: int) -> list[int]:
    d = rmsd_matrix(heavy_positions(mol))
    chosen, dmin = [0], d[0].copy()
    while len(chosen) < min(k, len(d)):
        j = int(np.argmax(dmin))
        chosen.append(j)
        dmin = np.minimum(dmin, d[j])
    return chosen


def denoising_error(model, mol: Chem.Mol, sigmas: list[float]) -> np.ndarray:
    """Per conformer: mean over noise levels (and 2 draws) of the per-atom squared
    denoising error / σ² (lower: the network finds the conformer more typical)."""
    mol = Chem.Mol(mol)
    batch = Batch.from_data_list([mol_to_data(mol, conf_id=c.GetId()) for c in mol.GetConformers()])
    x0, n = batch.pos.float(), int(batch.num_graphs)
    space = GraphSpace(batch.batch, n)
    gen = torch.Generator().manual_seed(0)
    total = torch.zeros(n)
    with torch.no_grad():
        for s in sigmas:
            for _ in range(2):
                x = x0 + s * space.randn_like(x0, generator=gen)
                err = ((model.denoiser(x, torch.full((len(x0), 1), s), batch) - x0) ** 2).sum(-1)
                total += torch.zeros(n).index_add_(0, batch.batch, err) / batch.batch.bincount(
                    minlength=n) / s ** 2
    return total.numpy()


def mmff_energy(mol: Chem.Mol) -> np.ndarray:
    mol = Chem.Mol(mol)
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol)
    if props is None:
        return np.zeros(mol.GetNumConformers())
    return np.array([rdForceFieldHelpers.MMFFGetMoleculeForceField(
        mol, props, confId=c.GetId()).CalcEnergy() for c in mol.GetConformers()])


def keep(mol: Chem.Mol, idx) -> Chem.Mol:
    confs = list(mol.GetConformers())
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for j in idx:
        out.AddConformer(Chem.Conformer(confs[int(j)]), assignId=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ligands", type=int, default=60)
    p.add_argument("--pool", type=int, default=30)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--sigmas", default="0.2,0.5,1.0", help="denoising-error noise levels (Å)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    valid = load_ccd_split()["valid"]
    ids = [valid[int(i)] for i in np.random.default_rng(1).permutation(len(valid))[: args.ligands]]
    ideal = convert_components(ids)
    refs = {"ideal": ideal,
            "experimental": [with_model_conformer(m, i) for m, i in zip(ideal, ids, strict=True)]}
    pools, _ = run_etkdg(queries_of(ideal), args.pool, mmff=False)
    model = load_model(BUNDLED_DRUGS_CHECKPOINT)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    k = args.k
    picks = {
        f"first {k} (ETKDGv3)": lambda m: range(min(k, m.GetNumConformers())),
        "farthest-point RMSD": lambda m: farthest_point(m, k),
        "lowest denoising error": lambda m: np.argsort(denoising_error(model, m, sigmas))[:k],
        "lowest MMFF94 energy": lambda m: np.argsort(mmff_energy(m))[:k],
        f"whole pool of {args.pool}": lambda m: range(m.GetNumConformers()),
    }
    for name, pick in picks.items():
        gens = [None if m is None else keep(m, pick(m)) for m in pools]
        row = {"selection": name, "ligands": len(ids), "pool": args.pool, "k": k}
        for ref_name, ref in refs.items():
            r = recall(ids, ref, gens)
            row[ref_name] = {key: round(v, 3) for key, v in r.items() if isinstance(v, float)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
