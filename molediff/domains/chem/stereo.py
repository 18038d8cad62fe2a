"""Does a generated 3D conformer have the stereochemistry its input SMILES asked for?

Stereo is compared through CIP labels (R/S on atoms, E/Z on double bonds) from RDKit's new
CIP labeler, which depend only on the graph and the spatial arrangement, never on the
atom or neighbour order; so the check also works when tags were perceived differently.
Only stereo elements that the input specifies are checked: an unspecified centre in the
input may come out either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdkit import Chem
from rdkit.Chem import rdCIPLabeler


@dataclass
class StereoReport:
    """Result of :func:`check_stereo`.

    Attributes:
        ok: every specified stereo element of the input is reproduced.
        num_checked: number of stereo centres plus stereo double bonds specified in the input.
        mismatches: human-readable descriptions such as ``"atom 3: expected R, got S"``.
    """

    ok: bool
    num_checked: int
    mismatches: list[str] = field(default_factory=list)


def _labels(mol: Chem.Mol) -> tuple[dict[int, str], dict[int, str]]:
    rdCIPLabeler.AssignCIPLabels(mol)
    atoms = {a.GetIdx(): a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")}
    bonds = {b.GetIdx(): b.GetProp("_CIPCode") for b in mol.GetBonds() if b.HasProp("_CIPCode")}
    return atoms, bonds


def stereo_from_3d(mol: Chem.Mol, conf_id: int = -1) -> Chem.Mol:
    """Copy of ``mol`` whose stereo tags are perceived from conformer ``conf_id``."""
    out = Chem.Mol(mol)
    # Existing tags describe the input, not the geometry: drop them before perceiving.
    Chem.RemoveStereochemistry(out)
    Chem.AssignStereochemistryFrom3D(out, confId=conf_id, replaceExistingTags=True)
    return out


def check_stereo(reference: Chem.Mol, generated: Chem.Mol, conf_id: int = -1) -> StereoReport:
    """Compare the input molecule's specified stereo with what a 3D conformer shows.

    Args:
        reference: the input molecule (e.g. from SMILES, explicit H or not) carrying the
            requested stereo tags.
        generated: a molecule with the same atoms in the same order (hydrogens may be
            extra, appended after the heavy atoms as ``Chem.AddHs`` does) and a 3D
            conformer.
        conf_id: which conformer of ``generated`` to check.
    """
    ref = Chem.Mol(reference)
    Chem.AssignStereochemistry(ref, cleanIt=True, force=True)
    gen = stereo_from_3d(generated, conf_id)
    n_ref = ref.GetNumAtoms()
    if gen.GetNumAtoms() < n_ref or any(
        ref.GetAtomWithIdx(i).GetAtomicNum() != gen.GetAtomWithIdx(i).GetAtomicNum()
        for i in range(n_ref)
    ):
        raise ValueError("generated molecule does not share the reference's atom order")
    ref_atoms, ref_bonds = _labels(ref)
    gen_atoms, _ = _labels(gen)
    mismatches = []
    for idx, want in sorted(ref_atoms.items()):
        got = gen_atoms.get(idx, "none")
        if got != want:
            mismatches.append(f"atom {idx}: expected {want}, got {got}")
    for bidx, want in sorted(ref_bonds.items()):
        rb = ref.GetBondWithIdx(bidx)
        gb = gen.GetBondBetweenAtoms(rb.GetBeginAtomIdx(), rb.GetEndAtomIdx())
        got = gb.GetProp("_CIPCode") if gb is not None and gb.HasProp("_CIPCode") else "none"
        if got != want:
            mismatches.append(
                f"bond {rb.GetBeginAtomIdx()}-{rb.GetEndAtomIdx()}: expected {want}, got {got}"
            )
    return StereoReport(ok=not mismatches, num_checked=len(ref_atoms) + len(ref_bonds),
                        mismatches=mismatches)
