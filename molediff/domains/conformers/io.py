"""SDF output for conformers, written atomically (temp file + ``os.replace``): a failed
or interrupted run never leaves a half-written file behind."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rdkit import Chem

from molediff.utils.io import atomic_write_text


def _set_prop(mol: Chem.Mol, key: str, value: Any) -> None:
    if isinstance(value, bool):
        mol.SetProp(key, str(value).lower())
    elif isinstance(value, int):
        mol.SetIntProp(key, value)
    elif isinstance(value, float):
        mol.SetDoubleProp(key, value)
    else:
        mol.SetProp(key, str(value))


def sdf_text(mols: Iterable[Chem.Mol | tuple[Chem.Mol, dict[str, Any]]]) -> str:
    """SDF records of every conformer of every molecule (coordinates in Å).

    Items are molecules or ``(molecule, properties)`` pairs; properties are written as
    SDF data fields (``> <name>``) on each record of that molecule.
    """
    records: list[str] = []
    for item in mols:
        mol, props = item if isinstance(item, tuple) else (item, {})
        mol = Chem.Mol(mol)
        for key, value in props.items():
            _set_prop(mol, key, value)
        conf_ids = [c.GetId() for c in mol.GetConformers()] or [-1]
        for cid in conf_ids:
            block = Chem.MolToMolBlock(mol, confId=cid)
            fields = "".join(f">  <{k}>\n{mol.GetProp(k)}\n\n" for k in mol.GetPropNames())
            records.append(block + fields + "$$$$\n")
    return "".join(records)


def write_sdf(path: str | Path,
              mols: Iterable[Chem.Mol | tuple[Chem.Mol, dict[str, Any]]]) -> Path:
    """Write ``mols`` (see :func:`sdf_text`) to ``path`` atomically; returns the path."""
    return atomic_write_text(path, sdf_text(mols))
