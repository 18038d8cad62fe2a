"""RDKit molecule -> torch_geometric ``Data`` (explicit hydrogens, bond graph, features).

Node features ``h`` (float, one block after the other, see :data:`NODE_FEATURE_SLICES`):

- ``atom_type``: one-hot over :data:`ATOM_TYPES` (H C N O F P S Cl Br I);
- ``formal_charge``: one-hot over (-1, 0, +1, other);
- ``aromatic``: 1 if aromatic;
- ``hybridization``: one-hot over (S, SP, SP2, SP3, SP3D, SP3D2, other);
- ``chirality``: one-hot chiral tag (unspecified, CW, CCW, other) followed by the CIP
  label (R, S) as two bits.  The tag alone is a parity relative to the neighbour order;
  the CIP label is what a network can read without knowing that order;
- ``in_ring``: 1 if the atom is in a ring.

Edge features ``edge_attr`` (float): bond type one-hot (single, double, triple,
aromatic), bond stereo one-hot (none, Z/cis, E/trans, any/other), conjugated, in ring.
Edges are the chemical bonds, stored in both directions.
"""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdCIPLabeler
from torch_geometric.data import Data

ATOM_TYPES: tuple[str, ...] = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
ATOMIC_NUMBERS: tuple[int, ...] = (1, 6, 7, 8, 9, 15, 16, 17, 35, 53)
_Z_TO_TYPE = {z: i for i, z in enumerate(ATOMIC_NUMBERS)}
FORMAL_CHARGES: tuple[int, ...] = (-1, 0, 1)
HYBRIDIZATIONS = (
    Chem.HybridizationType.S,
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
)
CHIRAL_TAGS = (
    Chem.ChiralType.CHI_UNSPECIFIED,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
)
BOND_TYPES = (
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
)
_STEREO_CLASS = {
    Chem.BondStereo.STEREONONE: 0,
    Chem.BondStereo.STEREOZ: 1,
    Chem.BondStereo.STEREOCIS: 1,
    Chem.BondStereo.STEREOE: 2,
    Chem.BondStereo.STEREOTRANS: 2,
}
NUM_BOND_STEREO = 4

NODE_FEATURE_SLICES: dict[str, slice] = {}
_offset = 0
for _name, _width in (
    ("atom_type", len(ATOM_TYPES)),
    ("formal_charge", len(FORMAL_CHARGES) + 1),
    ("aromatic", 1),
    ("hybridization", len(HYBRIDIZATIONS) + 1),
    ("chirality", len(CHIRAL_TAGS) + 1 + 2),
    ("in_ring", 1),
):
    NODE_FEATURE_SLICES[_name] = slice(_offset, _offset + _width)
    _offset += _width
NUM_NODE_FEATURES = _offset
EDGE_FEATURE_SLICES: dict[str, slice] = {
    "bond_type": slice(0, 4),
    "stereo": slice(4, 4 + NUM_BOND_STEREO),
    "conjugated": slice(8, 9),
    "in_ring": slice(9, 10),
}
NUM_EDGE_FEATURES = 10
DEFAULT_MAX_HEAVY_ATOMS = 64


def _one_hot(value: object, choices: tuple, other: bool = True) -> list[float]:
    out = [0.0] * (len(choices) + int(other))
    try:
        out[choices.index(value)] = 1.0
    except ValueError:
        if not other:
            raise
        out[-1] = 1.0
    return out


def check_elements(mol: Chem.Mol) -> None:
    """Raise ``ValueError`` naming the first element outside :data:`ATOM_TYPES`."""
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() not in _Z_TO_TYPE:
            raise ValueError(
                f"unsupported element {atom.GetSymbol()!r} (atom {atom.GetIdx()}); "
                f"supported: {', '.join(ATOM_TYPES)}"
            )


def atom_features(mol: Chem.Mol) -> torch.Tensor:
    """``float32 [N, NUM_NODE_FEATURES]`` node features (layout in the module docstring)."""
    check_elements(mol)
    # CIP labels need the new labeler; legacy _CIPCode may be missing or stale.
    rdCIPLabeler.AssignCIPLabels(mol)
    rows = []
    for atom in mol.GetAtoms():
        cip = atom.GetProp("_CIPCode") if atom.HasProp("_CIPCode") else ""
        rows.append(
            _one_hot(atom.GetAtomicNum(), ATOMIC_NUMBERS, other=False)
            + _one_hot(atom.GetFormalCharge(), FORMAL_CHARGES)
            + [float(atom.GetIsAromatic())]
            + _one_hot(atom.GetHybridization(), HYBRIDIZATIONS)
            + _one_hot(atom.GetChiralTag(), CHIRAL_TAGS)
            + [float(cip == "R"), float(cip == "S")]
            + [float(atom.IsInRing())]
        )
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, NUM_NODE_FEATURES)


def bond_graph(mol: Chem.Mol) -> tuple[torch.Tensor, torch.Tensor]:
    """``edge_index`` ``long [2, 2E]`` (both directions) and ``edge_attr`` ``[2E, 10]``."""
    src, dst, feats = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        stereo = [0.0] * NUM_BOND_STEREO
        stereo[_STEREO_CLASS.get(bond.GetStereo(), NUM_BOND_STEREO - 1)] = 1.0
        f = (
            _one_hot(bond.GetBondType(), BOND_TYPES, other=False)
            + stereo
            + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        )
        src += [i, j]
        dst += [j, i]
        feats += [f, f]
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    edge_attr = torch.tensor(feats, dtype=torch.float32).reshape(-1, NUM_EDGE_FEATURES)
    return edge_index, edge_attr


def mol_to_data(mol: Chem.Mol, conf_id: int = -1, with_pos: bool = True) -> Data:
    """Featurize an RDKit molecule that already carries explicit hydrogens.

    Args:
        mol: molecule with explicit H atoms (atom order is kept).
        conf_id: conformer to read ``pos`` from (Å).
        with_pos: if False (or the molecule has no conformer), ``pos`` is None.

    Returns:
        ``Data(pos [N,3] float32 Å | None, h [N,F], z [N] long, edge_index [2,2E],
        edge_attr [2E,10], smiles str, num_nodes N)``.
    """
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long)
    pos = None
    if with_pos and mol.GetNumConformers() > 0:
        pos = torch.from_numpy(
            np.asarray(mol.GetConformer(conf_id).GetPositions(), dtype=np.float32)
        )
    h = atom_features(mol)
    edge_index, edge_attr = bond_graph(mol)
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
    return Data(
        pos=pos, h=h, z=z, edge_index=edge_index, edge_attr=edge_attr,
        smiles=smiles, num_nodes=int(z.numel()),
    )


def smiles_to_mol(smiles: str, max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS) -> Chem.Mol:
    """Parse a SMILES into a sanitized molecule with explicit hydrogens (no conformer).

    Raises:
        ValueError: invalid SMILES; unsupported element; more than ``max_heavy_atoms``
            heavy atoms.  One error per failure, each naming the cause.
    """
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        raise ValueError(f"invalid SMILES: {smiles!r}")
    check_elements(mol)
    if mol.GetNumHeavyAtoms() > max_heavy_atoms:
        raise ValueError(
            f"{smiles!r} has {mol.GetNumHeavyAtoms()} heavy atoms, more than the limit "
            f"max_heavy_atoms={max_heavy_atoms}"
        )
    return Chem.AddHs(mol)


def smiles_to_data(smiles: str, max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS) -> Data:
    """Same ``Data`` as :func:`mol_to_data` for inference from a SMILES: ``pos`` is None.

    Atom order: heavy atoms in SMILES order, then hydrogens (``Chem.AddHs``).
    """
    mol = smiles_to_mol(smiles, max_heavy_atoms)
    data = mol_to_data(mol, with_pos=False)
    data.smiles = smiles
    return data
