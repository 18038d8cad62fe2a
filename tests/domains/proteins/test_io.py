"""PDB / mmCIF input through biotite (gaps and missing atoms reported, bad files refused)
and PDB output that an independent reader (Biopython) reads back."""

from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.proteins.io import pdb_text, read_backbone
from molediff.utils.errors import InputError


def test_written_pdb_reads_back_in_biopython_and_biotite(tmp_path, native_test_chains):
    from Bio.PDB import PDBParser

    bb = np.concatenate([native_test_chains.coords[1], native_test_chains.coords[2]])
    chain = np.repeat([0, 1], [len(native_test_chains.coords[1]), len(native_test_chains.coords[2])])
    path = tmp_path / "two.pdb"
    path.write_text(pdb_text(bb, chain, ["mode: test", "seed: 3"]))
    text = path.read_text()
    assert "REMARK 250 mode: test" in text and "REMARK 250 seed: 3" in text
    s = PDBParser(QUIET=True).get_structure("d", str(path))
    chains = list(s[0])
    assert [c.id for c in chains] == ["A", "B"]
    res = [r for c in chains for r in c]
    assert len(res) == len(bb) and {r.get_resname() for r in res} == {"GLY"}
    got = np.array([[r[a].coord for a in ("N", "CA", "C", "O")] for r in res])
    assert np.abs(got - bb).max() < 1e-3 + 1e-6  # PDB keeps 3 decimals
    back = read_backbone(path)
    assert back.chain_id.tolist() == ["A"] * int((chain == 0).sum()) + ["B"] * int((chain == 1).sum())
    assert back.res_id[0] == 1 and np.abs(back.coords - bb).max() < 1e-3 + 1e-6


def test_mmcif_and_chain_selection(tmp_path, native_test_chains):
    import biotite.structure.io as strucio

    bb = native_test_chains.coords[3]
    pdb = tmp_path / "x.pdb"
    pdb.write_text(pdb_text(np.concatenate([bb, bb + 40.0]), np.repeat([0, 1], len(bb))))
    cif = tmp_path / "x.cif"
    strucio.save_structure(str(cif), strucio.load_structure(str(pdb)))
    b = read_backbone(cif, chains="B")
    assert set(b.chain_id.tolist()) == {"B"} and np.allclose(b.coords, bb + 40.0, atol=2e-3)
    with pytest.raises(InputError, match="no chain C"):
        read_backbone(cif, chains="C")


def test_gaps_and_missing_atoms_are_reported(tmp_path, native_test_chains):
    bb = native_test_chains.coords[0][:30]
    lines = pdb_text(bb, np.zeros(30, dtype=int)).splitlines()
    # drop residue 10's O atom and residues 20-22 entirely
    kept = [ln for ln in lines if not (ln.startswith("ATOM") and (
        (int(ln[22:26]) == 10 and ln[12:16].strip() == "O") or 20 <= int(ln[22:26]) <= 22))]
    path = tmp_path / "gappy.pdb"
    path.write_text("\n".join(kept) + "\n")
    b = read_backbone(path)
    assert len(b.coords) == 26
    assert any("A10" in n and "missing" in n for n in b.notes)
    assert any("gap" in n and "A19-23" in n for n in b.notes)


@pytest.mark.parametrize("content,suffix,fragment", [
    ("this is not a structure\n", ".pdb", "no amino-acid residues|could not be read"),
    ("data_x\n_atom_site.id\n", ".cif", "could not be read|no amino-acid"),
    ("HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n",
     ".pdb", "no amino-acid residues"),
    ("ATOM", ".xyz", "unknown format"),
])
def test_bad_files_are_one_clear_input_error(tmp_path, content, suffix, fragment):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(InputError, match=fragment):
        read_backbone(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_backbone(tmp_path / "nope.pdb")
