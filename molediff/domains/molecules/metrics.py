"""Metrics for de novo 3D molecule generation (EDM protocol on QM9, plus a corrected variant).

A generated molecule is a pair ``(atomic_numbers, positions)`` with explicit hydrogens
and positions in Å. Metrics, all fractions in [0, 1]:

``atom_stability`` / ``molecule_stability`` (EDM, Hoogeboom et al. 2022)
    Bond orders come from pairwise distances and EDM's tables
    (:func:`molediff.domains.molecules.bonds.edm_bond_orders`). An atom is stable when its
    summed bond order is one of its allowed valences (``ALLOWED_VALENCES``); a molecule is
    stable when all its atoms are. Atom stability is pooled over all atoms of all molecules
    (stable atoms / atoms), as in EDM. Distance cut-offs cannot see conjugation: in benzene
    every C-C is ~139.5 pm, just outside the 139 pm double-bond cut-off, so EDM's rule
    gives all-single rings (ring carbons with valence 3) and calls benzene unstable.

``atom_stability_corrected`` / ``molecule_stability_corrected``
    Bonds perceived by RDKit (:func:`molediff.domains.molecules.bonds.perceive_bonds`:
    covalent-radius connectivity, then xyz2mol bond orders for a neutral molecule, per
    connected fragment). An atom is stable when (a) its fragment received a bond-order
    assignment, (b) it carries no formal charge and no radical electron, and (c) its
    valence, summed over integer Kekulé bond orders, is in ``CORRECTED_VALENCES`` (EDM's
    table with sulfur allowed 2, 4 or 6). A molecule
    is stable when every atom is, i.e. RDKit finds a Kekulé structure with all atoms
    neutral and at a standard valence. Aromatic bonds are never counted as 1.5: code that
    sums 1.5s and rounds (a bug shared by several public evaluation scripts) scores
    pyrrole's N as 4 and furan's O as 3 and so calls correct heteroaromatics unstable.

``validity`` (EDM protocol)
    Build an RDKit molecule with EDM's bond orders (atoms may take implicit H, as in EDM),
    ``Chem.SanitizeMol`` the whole molecule; valid if that succeeds. Under-bonded atoms are
    therefore valid (they get implicit H); over-bonded ones are not. For a valid molecule the SMILES of its largest
    fragment is kept. ``validity_connected`` additionally requires a single fragment.

``uniqueness`` = unique canonical SMILES among valid molecules / valid molecules.
``valid_unique`` = validity * uniqueness (EDM's "V*U").
``novelty`` = unique SMILES absent from the training set / unique SMILES (NaN when no
    training set is given).

SMILES for uniqueness and novelty are RDKit canonical, hydrogens removed, without
stereo (``isomericSmiles=False``): generated molecules carry no stereo flags, so keeping
stereo in the training SMILES would make every stereo-bearing molecule look novel.
Empty denominators give 0.0, as in EDM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from rdkit import Chem, rdBase

from molediff.domains.molecules.bonds import (
    CORRECTED_VALENCES,
    DEFAULT_COV_FACTOR,
    allowed_valence_mask,
    atom_valences,
    edm_bond_orders,
    edm_mol,
    kekule_valences,
    perceive_bonds,
    to_atomic_numbers,
    to_numpy_positions,
)

__all__ = [
    "Molecule",
    "edm_atom_stability",
    "edm_stability",
    "corrected_atom_stability",
    "corrected_stability",
    "edm_valid_smiles",
    "canonical_smiles",
    "canonical_smiles_set",
    "uniqueness_novelty",
    "molecules_from_batch",
    "evaluate_molecules",
]

#: ``(atomic_numbers (n,), positions (n, 3) in Å)``; numpy arrays, lists or torch tensors.
Molecule = tuple[Any, Any]


def edm_atom_stability(atomic_numbers: Any, positions: Any) -> np.ndarray:
    """Per-atom stability under EDM's distance rule.

    Args:
        atomic_numbers: ``(n,)`` atomic numbers or symbols.
        positions: ``(n, 3)`` coordinates in Å.

    Returns:
        Boolean ``(n,)`` array.
    """
    orders = edm_bond_orders(atomic_numbers, positions)
    return allowed_valence_mask(atomic_numbers, atom_valences(orders))


def edm_stability(atomic_numbers: Any, positions: Any) -> tuple[bool, int, int]:
    """EDM's ``check_stability``: ``(molecule_stable, n_stable_atoms, n_atoms)``.

    Positions in Å. A molecule without atoms is not stable.
    """
    stable = edm_atom_stability(atomic_numbers, positions)
    n = int(stable.size)
    return bool(n > 0 and stable.all()), int(stable.sum()), n


def corrected_atom_stability(
    atomic_numbers: Any,
    positions: Any,
    *,
    cov_factor: float = DEFAULT_COV_FACTOR,
    connectivity: str = "rdkit",
) -> np.ndarray:
    """Per-atom stability from RDKit-perceived Kekulé bonds (see the module docstring).

    Args:
        atomic_numbers: ``(n,)`` atomic numbers or symbols.
        positions: ``(n, 3)`` coordinates in Å.
        cov_factor, connectivity: passed to :func:`~molediff.domains.molecules.bonds.perceive_bonds`.

    Returns:
        Boolean ``(n,)`` array.
    """
    z = to_atomic_numbers(atomic_numbers)
    if len(z) == 0:
        return np.zeros(0, dtype=bool)
    mol, assigned = perceive_bonds(z, positions, cov_factor=cov_factor, connectivity=connectivity)
    neutral = np.array(
        [a.GetFormalCharge() == 0 and a.GetNumRadicalElectrons() == 0 for a in mol.GetAtoms()],
        dtype=bool,
    )
    return assigned & neutral & allowed_valence_mask(z, kekule_valences(mol), CORRECTED_VALENCES)


def corrected_stability(
    atomic_numbers: Any,
    positions: Any,
    *,
    cov_factor: float = DEFAULT_COV_FACTOR,
    connectivity: str = "rdkit",
) -> tuple[bool, int, int]:
    """Corrected (RDKit Kekulé) stability: ``(molecule_stable, n_stable_atoms, n_atoms)``."""
    stable = corrected_atom_stability(
        atomic_numbers, positions, cov_factor=cov_factor, connectivity=connectivity
    )
    n = int(stable.size)
    return bool(n > 0 and stable.all()), int(stable.sum()), n


def _sanitized_or_none(mol: Chem.Mol) -> Chem.Mol | None:
    mol = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # AtomValenceException, KekulizeException, ... all mean "invalid"
        return None
    return mol


def canonical_smiles(mol_or_smiles: Chem.Mol | str) -> str | None:
    """Canonical SMILES used for uniqueness and novelty: no hydrogens, no stereo.

    Returns None when the input cannot be parsed or sanitised.
    """
    if isinstance(mol_or_smiles, str):
        mol = Chem.MolFromSmiles(mol_or_smiles)
    else:
        mol = _sanitized_or_none(mol_or_smiles)
    if mol is None:
        return None
    try:
        mol = Chem.RemoveHs(mol)
    except Exception:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=False)


# BlockLogs silences RDKit's per-molecule sanitisation warnings while scoring many samples.


def canonical_smiles_set(smiles: Iterable[str]) -> set[str]:
    """Canonicalise a training set once (unparsable entries are dropped)."""
    with rdBase.BlockLogs():
        out = {canonical_smiles(s) for s in smiles}
    out.discard(None)
    return out  # type: ignore[return-value]


def edm_valid_smiles(atomic_numbers: Any, positions: Any) -> tuple[str | None, int]:
    """EDM validity for one molecule.

    Returns:
        ``(smiles, n_fragments)``: canonical SMILES (see :func:`canonical_smiles`) of the
        largest fragment, or None when the EDM-bonded molecule does not sanitise; and the
        number of connected fragments (0 when invalid).
    """
    if len(to_atomic_numbers(atomic_numbers)) == 0:
        return None, 0
    mol = _sanitized_or_none(edm_mol(atomic_numbers, positions, no_implicit=False))
    if mol is None:
        return None, 0
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    largest = max(frags, key=lambda m: m.GetNumAtoms())
    return canonical_smiles(largest), len(frags)


def uniqueness_novelty(
    valid_smiles: Sequence[str], train_smiles: set[str] | None = None
) -> tuple[float, float]:
    """``(uniqueness, novelty)`` from canonical SMILES of the valid molecules.

    ``train_smiles`` must already be canonical (:func:`canonical_smiles_set`). Novelty is
    NaN without a training set; empty denominators give 0.0 (EDM's convention).
    """
    unique = set(valid_smiles)
    uniqueness = len(unique) / len(valid_smiles) if valid_smiles else 0.0
    if train_smiles is None:
        return uniqueness, float("nan")
    novelty = len(unique - train_smiles) / len(unique) if unique else 0.0
    return uniqueness, novelty


def molecules_from_batch(atomic_numbers: Any, positions: Any, batch: Any) -> list[Molecule]:
    """Split flat arrays (PyG style: ``(N,)``, ``(N, 3)`` Å, graph index ``(N,)``) per graph."""
    z = to_atomic_numbers(atomic_numbers)
    pos = to_numpy_positions(positions)
    if hasattr(batch, "detach"):
        batch = batch.detach().cpu().numpy()
    b = np.asarray(batch, dtype=np.int64)
    n_graphs = int(b.max()) + 1 if b.size else 0
    return [(z[b == g], pos[b == g]) for g in range(n_graphs)]


def evaluate_molecules(
    molecules: Iterable[Molecule],
    train_smiles: Iterable[str] | None = None,
    *,
    corrected: bool = True,
    train_smiles_canonical: bool = False,
    cov_factor: float = DEFAULT_COV_FACTOR,
) -> dict[str, float]:
    """All generation metrics for a list of ``(atomic_numbers, positions_Å)`` molecules.

    Args:
        molecules: each ``(atomic_numbers (n,), positions (n, 3) in Å)`` with explicit H.
        train_smiles: training-set SMILES for novelty (any form RDKit parses).
        corrected: also compute the RDKit-Kekulé stability (about 0.5 ms per molecule).
        train_smiles_canonical: set when ``train_smiles`` came from
            :func:`canonical_smiles_set`, to skip re-canonicalising a large set.
        cov_factor: connectivity scale for the corrected variant.

    Returns:
        Fractions in [0, 1] (``novelty`` is NaN without ``train_smiles``): ``atom_stability``,
        ``molecule_stability``, ``atom_stability_corrected``,
        ``molecule_stability_corrected`` (when ``corrected``), ``validity``,
        ``validity_connected``, ``uniqueness``, ``valid_unique``, ``novelty``.
    """
    mols = list(molecules)
    n_mols = len(mols)
    train: set[str] | None = None
    if train_smiles is not None:
        train = set(train_smiles) if train_smiles_canonical else canonical_smiles_set(train_smiles)

    atoms = stable_atoms = stable_mols = 0
    c_stable_atoms = c_stable_mols = 0
    valid: list[str] = []
    connected = 0
    with rdBase.BlockLogs():
        for z, pos in mols:
            z = to_atomic_numbers(z)
            pos = to_numpy_positions(pos) if len(z) else np.zeros((0, 3))
            ok_mol, ok_atoms, n = edm_stability(z, pos)
            atoms += n
            stable_atoms += ok_atoms
            stable_mols += ok_mol
            if corrected:
                c_mol, c_atoms, _ = corrected_stability(z, pos, cov_factor=cov_factor)
                c_stable_atoms += c_atoms
                c_stable_mols += c_mol
            smiles, n_frags = edm_valid_smiles(z, pos)
            if smiles is not None:
                valid.append(smiles)
                connected += n_frags == 1

    def frac(num: float, den: float) -> float:
        return float(num) / den if den else 0.0

    uniqueness, novelty = uniqueness_novelty(valid, train)
    validity = frac(len(valid), n_mols)
    out = {
        "atom_stability": frac(stable_atoms, atoms),
        "molecule_stability": frac(stable_mols, n_mols),
    }
    if corrected:
        out["atom_stability_corrected"] = frac(c_stable_atoms, atoms)
        out["molecule_stability_corrected"] = frac(c_stable_mols, n_mols)
    out.update(
        validity=validity,
        validity_connected=frac(connected, n_mols),
        uniqueness=uniqueness,
        valid_unique=validity * uniqueness,
        novelty=novelty,
    )
    return out
