"""Fragment inpainting input: a fragment whose atoms stay fixed while the rest of the
molecule is generated around it.

A fragment comes from

- a SMILES string: embedded in 3D with RDKit's ETKDG (seeded, so repeatable); by default
  only the atoms written in the SMILES are kept (hydrogens are added for the embedding and
  removed afterwards, so the generator can attach atoms where they were), or all atoms
  with ``add_hs=True``;
- an SDF / MOL file path (``.sdf``, ``.mol``, ``.sd``): the first record's atoms (all of
  them, hydrogens included) and coordinates in Å, exactly as written;
- an RDKit ``Mol`` with a conformer.

The generator places the fragment's atoms first in each molecule and keeps their
coordinates and types fixed (``GraphSpace(fixed_mask=...)`` plus replacement inpainting,
:func:`molediff.core.guidance.inpaint`); decoded positions are in the fragment's own frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem
from torch import Tensor

from molediff.core.guidance import DenoiserFn, inpaint
from molediff.core.space import GraphSpace

#: elements a QM9 model can place
SUPPORTED_ATOMIC_NUMBERS: tuple[int, ...] = (1, 6, 7, 8, 9)
SDF_SUFFIXES = (".sdf", ".sd", ".mol")


@dataclass
class Fragment:
    """Atoms to keep fixed.

    Attributes:
        atomic_numbers: ``int64 [k]``.
        positions: ``float64 [k, 3]`` in Å (input frame).
        charges: ``int64 [k]`` formal charges.
        source: what it was read from.
    """

    atomic_numbers: np.ndarray
    positions: np.ndarray
    charges: np.ndarray
    source: str = ""

    @property
    def num_atoms(self) -> int:
        return int(len(self.atomic_numbers))

    @property
    def centre(self) -> np.ndarray:
        """Mean position (Å); the generator works in the frame centred on it."""
        return self.positions.mean(0)

    @property
    def centred_positions(self) -> np.ndarray:
        return self.positions - self.centre


def _check(frag: Fragment) -> Fragment:
    if frag.num_atoms == 0:
        raise ValueError(f"fragment {frag.source!r} has no atoms")
    bad = sorted(set(frag.atomic_numbers.tolist()) - set(SUPPORTED_ATOMIC_NUMBERS))
    if bad:
        pt = Chem.GetPeriodicTable()
        raise ValueError(
            f"fragment {frag.source!r} contains unsupported elements "
            f"{[pt.GetElementSymbol(int(b)) for b in bad]}; QM9 models place only H C N O F"
        )
    if np.abs(frag.charges).max(initial=0) > 1:
        raise ValueError(f"fragment {frag.source!r} has formal charges beyond +-1")
    if not np.isfinite(frag.positions).all():
        raise ValueError(f"fragment {frag.source!r} has non-finite coordinates")
    return frag


def fragment_from_mol(mol: Chem.Mol, source: str = "mol") -> Fragment:
    """All atoms of ``mol`` with its first conformer (Å)."""
    if mol.GetNumConformers() == 0:
        raise ValueError(f"fragment {source!r} has no coordinates (no conformer)")
    pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    q = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
    return _check(Fragment(z, pos, q, source))


def fragment_from_smiles(smiles: str, add_hs: bool = False, seed: int = 0) -> Fragment:
    """Embed ``smiles`` with ETKDG; keep the written atoms (or all with ``add_hs``)."""
    from rdkit import rdBase

    with rdBase.BlockLogs():  # our one-line error replaces RDKit's parser lines
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"cannot parse fragment SMILES {smiles!r}")
    bad = sorted({a.GetAtomicNum() for a in mol.GetAtoms()} - set(SUPPORTED_ATOMIC_NUMBERS))
    if bad:
        pt = Chem.GetPeriodicTable()
        raise ValueError(
            f"fragment {smiles!r} contains unsupported elements "
            f"{[pt.GetElementSymbol(int(b)) for b in bad]}; QM9 models place only H C N O F"
        )
    n_written = mol.GetNumAtoms()
    molh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(molh, params) != 0:
        raise ValueError(f"RDKit could not embed fragment {smiles!r} in 3D")
    frag = fragment_from_mol(molh, smiles)
    if add_hs:
        return frag
    # AddHs appends hydrogens after the written atoms
    return _check(Fragment(frag.atomic_numbers[:n_written], frag.positions[:n_written],
                           frag.charges[:n_written], smiles))


def load_fragment(spec: Any, add_hs: bool = False, seed: int = 0) -> Fragment:
    """A :class:`Fragment` from a SMILES, an SDF/MOL path, an RDKit ``Mol`` or a Fragment.

    Raises:
        ValueError: unreadable input, no atoms, unsupported elements (only H C N O F),
            charges beyond +-1.
    """
    if isinstance(spec, Fragment):
        return _check(spec)
    if isinstance(spec, Chem.Mol):
        return fragment_from_mol(spec)
    if not isinstance(spec, str | Path):
        raise ValueError(f"a fragment is a SMILES, an SDF/MOL path or an RDKit Mol, got {type(spec).__name__}")
    text = str(spec)
    if Path(text).suffix.lower() in SDF_SUFFIXES:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"fragment file {path} not found")
        supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False)
        mol = next(iter(supplier), None)
        if mol is None:
            raise ValueError(f"cannot read a molecule from {path}")
        return fragment_from_mol(mol, str(path))
    return fragment_from_smiles(text, add_hs=add_hs, seed=seed)


def inpaint_denoiser(denoiser: DenoiserFn, template: Tensor, space: GraphSpace) -> DenoiserFn:
    """Replacement inpainting over the fixed nodes of ``space`` (their rows of ``template``)."""
    if space.fixed_mask is None:
        return denoiser
    return inpaint(denoiser, template, space.fixed_mask.unsqueeze(-1))


__all__ = ["Fragment", "load_fragment", "fragment_from_mol", "fragment_from_smiles",
           "inpaint_denoiser", "SUPPORTED_ATOMIC_NUMBERS"]
