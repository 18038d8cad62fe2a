"""Molecule input files (encodings, names, headers, SDF records), salts, unspecified stereo."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdkit import Chem

from molediff.domains.chem.inputs import (
    InputError,
    MoleculeInput,
    enumerate_stereo,
    largest_fragment,
    molecules_from_arguments,
    read_molecule_file,
    unspecified_stereo,
)
from molediff.utils.errors import MolediffError


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _molblock(smiles: str, name: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    mol.SetProp("_Name", name)
    return Chem.MolToMolBlock(mol)


def _pentavalent_carbon_block() -> str:
    """A syntactically fine mol block that fails sanitization (5 bonds on one carbon)."""
    mol = Chem.MolFromSmiles("CC(C)(C)(C)C", sanitize=False)
    mol.SetProp("_Name", "broken")
    return Chem.MolToMolBlock(mol, kekulize=False)


# ---- .smi -----------------------------------------------------------------------------


def test_smi_names_header_comments_and_sources(tmp_path):
    path = _write(tmp_path / "mols.smi", (
        "SMILES Name\n"
        "# a comment line\n"
        "\n"
        "CCO ethanol\n"
        "CC(=O)O   acetic acid\n"
        "c1ccccc1\n"
        "C[C@H](N)C(=O)O\tL-alanine\textra column\n"
    ))
    items = read_molecule_file(path)
    assert [m.smiles for m in items] == ["CCO", "CC(=O)O", "c1ccccc1", "C[C@H](N)C(=O)O"]
    # names with spaces survive; a tab-separated line gives the second field only
    assert [m.name for m in items] == ["ethanol", "acetic acid", None, "L-alanine"]
    assert [m.source for m in items] == [f"{path}:{k}" for k in (4, 5, 6, 7)]
    assert all(m.mol is None and m.error is None for m in items)


def test_smi_first_line_is_a_molecule_when_it_parses(tmp_path):
    # no header: the first line is data and must not be dropped
    items = read_molecule_file(_write(tmp_path / "a.smi", "CCO first\nCCN second\n"))
    assert [m.name for m in items] == ["first", "second"]


def test_smi_invalid_smiles_are_kept_for_per_molecule_reports(tmp_path):
    items = read_molecule_file(_write(tmp_path / "a.txt", "CCO ok\nnot_a_smiles bad\n"))
    assert [m.smiles for m in items] == ["CCO", "not_a_smiles"]


def test_smi_with_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "a.smiles"
    path.write_bytes(b"\xef\xbb\xbfCCO ethanol\r\nCCN ethylamine\r\n")
    items = read_molecule_file(path)
    assert [(m.smiles, m.name) for m in items] == [("CCO", "ethanol"), ("CCN", "ethylamine")]


def test_latin1_smi_is_read_with_accented_names(tmp_path):
    path = _write(tmp_path / "latin1.smi", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C café\nCCO éthanol\n",
                  encoding="latin-1")
    with pytest.raises(UnicodeDecodeError):  # the point of the test: not UTF-8
        path.read_bytes().decode("utf-8")
    items = read_molecule_file(path)
    assert [m.name for m in items] == ["café", "éthanol"]
    assert items[0].smiles == "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"


def test_binary_file_is_refused_clearly(tmp_path):
    path = tmp_path / "junk.smi"
    path.write_bytes(b"CCO \x81\x02\x03\xff\xfe name\n")  # not UTF-8, not printable 8-bit text
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_molecule_file(path)


def test_8bit_text_with_control_characters_is_refused(tmp_path):
    path = tmp_path / "ctrl.smi"
    path.write_bytes(b"CCO caf\xe9\x02\n")  # decodes as Latin-1, but \x02 is not text
    with pytest.raises(InputError, match="control character"):
        read_molecule_file(path)


def test_nul_bytes_are_refused(tmp_path):
    path = tmp_path / "utf16_no_bom.smi"
    path.write_bytes("CCO ethanol\n".encode("utf-16-le"))
    with pytest.raises(InputError, match="NUL"):
        read_molecule_file(path)


def test_utf16_with_bom_is_read(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes("CCO éthanol\n".encode("utf-16"))  # Python writes the BOM
    assert [(m.smiles, m.name) for m in read_molecule_file(path)] == [("CCO", "éthanol")]


# ---- .csv -----------------------------------------------------------------------------


def test_csv_with_utf8_bom_keeps_names(tmp_path):
    path = _write(tmp_path / "excel.csv", "SMILES,Name,pIC50\nCCO,ethanol,5.1\n"
                  "\"CC(=O)O\",\"acid, acetic\",4.0\n,empty row,0\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    items = read_molecule_file(path)
    assert [(m.smiles, m.name) for m in items] == [("CCO", "ethanol"), ("CC(=O)O", "acid, acetic")]
    assert [m.source for m in items] == [f"{path}:2", f"{path}:3"]


def test_csv_semicolon_delimiter_and_id_column(tmp_path):
    path = _write(tmp_path / "eu.csv", "ID;Canonical_SMILES\nmol-1;CCO\nmol-2;c1ccccc1\n")
    items = read_molecule_file(path)
    assert [(m.smiles, m.name) for m in items] == [("CCO", "mol-1"), ("c1ccccc1", "mol-2")]


def test_csv_explicit_smiles_column(tmp_path):
    path = _write(tmp_path / "two.csv", "smiles,parent\nCCO,CCCCO\n")
    assert [m.smiles for m in read_molecule_file(path)] == ["CCO"]
    assert [m.smiles for m in read_molecule_file(path, smiles_column="PARENT")] == ["CCCCO"]


def test_csv_without_smiles_column_lists_columns(tmp_path):
    path = _write(tmp_path / "no.csv", "compound,activity\nCCO,1\n")
    with pytest.raises(InputError, match=r"no SMILES column \(columns: 'compound', 'activity'\)"):
        read_molecule_file(path)
    with pytest.raises(InputError, match="no column 'structure'"):
        read_molecule_file(path, smiles_column="structure")


def test_csv_header_only_has_no_molecules(tmp_path):
    with pytest.raises(InputError, match="no molecules"):
        read_molecule_file(_write(tmp_path / "h.csv", "smiles,name\n"))


# ---- .sdf -----------------------------------------------------------------------------


def test_sdf_names_and_broken_record_kept_with_its_number(tmp_path):
    text = "$$$$\n".join([_molblock("CCO", "ethanol"), _pentavalent_carbon_block(),
                          _molblock("C[C@H](N)C(=O)O", "alanine")]) + "$$$$\n"
    path = _write(tmp_path / "mols.sdf", text)
    items = read_molecule_file(path)
    assert len(items) == 3
    assert [m.name for m in items] == ["ethanol", None, "alanine"]
    assert [m.source for m in items] == [f"{path}:record {k}" for k in (1, 2, 3)]
    assert items[1].mol is None and items[1].smiles == ""
    assert "valence" in items[1].error.lower()
    assert items[0].mol is not None and items[0].mol.GetNumAtoms() == 3
    assert items[2].smiles == "C[C@H](N)C(=O)O"  # stereo from the wedge bond kept
    assert items[0].error is None and items[2].error is None


def test_sdf_keeps_hydrogens(tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    path = _write(tmp_path / "h.sdf", Chem.MolToMolBlock(mol) + "$$$$\n")
    (item,) = read_molecule_file(path)
    assert item.mol.GetNumAtoms() == 9


def test_empty_sdf_is_a_clear_input_error(tmp_path):
    path = tmp_path / "empty.sdf"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as info:
        read_molecule_file(path)
    assert str(path) in str(info.value)
    path.write_text("\n  \n")
    with pytest.raises(InputError, match="empty file"):
        read_molecule_file(path)


# ---- file-level errors ----------------------------------------------------------------


def test_file_level_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_molecule_file(tmp_path / "missing.smi")
    (tmp_path / "dir.smi").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_molecule_file(tmp_path / "dir.smi")
    with pytest.raises(InputError, match="unknown input format '.xyz'"):
        read_molecule_file(_write(tmp_path / "m.xyz", "CCO\n"))
    with pytest.raises(InputError, match="no molecules"):
        read_molecule_file(_write(tmp_path / "c.smi", "# only a comment\nsmiles name\n"))
    with pytest.raises(InputError, match="is it an SD file"):
        read_molecule_file(_write(tmp_path / "not.sdf", "hello\nworld\n"))
    # one user-facing error class: the CLI prints it without a traceback, exit status 1
    assert issubclass(InputError, MolediffError) and InputError.exit_code == 1


def test_molecules_from_arguments():
    assert molecules_from_arguments([" CCO", "CCN"]) == [
        MoleculeInput(smiles="CCO", name=None, mol=None, source="argument 1"),
        MoleculeInput(smiles="CCN", name=None, mol=None, source="argument 2"),
    ]


# ---- salts and mixtures ---------------------------------------------------------------


def test_largest_fragment_of_a_salt():
    kept, note = largest_fragment(Chem.MolFromSmiles("CC(=O)[O-].[Na+]"))
    assert Chem.MolToSmiles(kept) == "CC(=O)[O-]"
    assert note == "kept the largest fragment CC(=O)[O-] of 2 (dropped [Na+])"


def test_largest_fragment_of_two_organics_keeps_the_larger():
    kept, note = largest_fragment(Chem.MolFromSmiles("CCO.CCCCCCO"))
    assert Chem.MolToSmiles(kept) == "CCCCCCO"
    assert note == "kept the largest fragment CCCCCCO of 2 (dropped CCO)"


def test_largest_fragment_prefers_organic_and_keeps_stereo():
    # HCl salt: the small inorganic fragments go, the stereocentre stays
    kept, note = largest_fragment(Chem.MolFromSmiles("Cl.Cl.N[C@@H](C)CN"))
    assert Chem.MolToSmiles(kept) == Chem.MolToSmiles(Chem.MolFromSmiles("N[C@@H](C)CN"))
    assert note.endswith("of 3 (dropped Cl.Cl)")
    # sulfuric acid is bigger than methane but has no carbon: methane is kept
    assert Chem.MolToSmiles(largest_fragment(Chem.MolFromSmiles("OS(=O)(=O)O.C"))[0]) == "C"


def test_largest_fragment_single_fragment_is_unchanged():
    mol = Chem.MolFromSmiles("c1ccccc1O")
    kept, note = largest_fragment(mol)
    assert kept is mol and note is None


def test_largest_fragment_note_hides_explicit_hydrogens():
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)[O-].[Na+]"))
    kept, note = largest_fragment(mol)
    assert kept.GetNumAtoms() == 7  # hydrogens kept in the molecule
    assert note == "kept the largest fragment CC(=O)[O-] of 2 (dropped [Na+])"


# ---- stereo ---------------------------------------------------------------------------


@pytest.mark.parametrize("smiles, expected", [
    ("CC(O)C(N)C", 2),
    ("C[C@H](O)CC", 0),
    ("C[C@H](O)C(N)C", 1),
    ("CC=CC", 1),
    ("C/C=C/C", 0),
    ("CC(O)C=CC", 2),
    ("CCO", 0),
])
def test_unspecified_stereo_counts(smiles, expected):
    assert unspecified_stereo(Chem.MolFromSmiles(smiles)) == expected


def test_unspecified_stereo_with_explicit_hydrogens():
    assert unspecified_stereo(Chem.AddHs(Chem.MolFromSmiles("CC(O)C(N)C"))) == 2


def test_enumerate_stereo_two_centres_gives_four():
    isomers = enumerate_stereo(Chem.MolFromSmiles("CC(O)C(N)C"))
    smiles = {Chem.MolToSmiles(m) for m in isomers}
    assert len(isomers) == 4 and len(smiles) == 4
    assert all(unspecified_stereo(m) == 0 for m in isomers)


def test_enumerate_stereo_keeps_specified_stereo():
    assert [Chem.MolToSmiles(m) for m in enumerate_stereo(Chem.MolFromSmiles("C[C@H](O)CC"))] == [
        Chem.MolToSmiles(Chem.MolFromSmiles("C[C@H](O)CC"))]
    # one specified, one not: two isomers, both with the given centre unchanged
    isomers = enumerate_stereo(Chem.MolFromSmiles("C[C@H](O)C(N)C"))
    assert len(isomers) == 2
    assert all(m.GetAtomWithIdx(1).GetChiralTag() == Chem.ChiralType.CHI_TETRAHEDRAL_CCW
               for m in isomers)


def test_enumerate_stereo_double_bond_and_limit():
    assert {Chem.MolToSmiles(m) for m in enumerate_stereo(Chem.MolFromSmiles("CC=CC"))} == {
        "C/C=C/C", "C/C=C\\C"}
    many = Chem.MolFromSmiles("CC(O)C(O)C(O)C(O)C(O)C(O)CO")  # 6 centres: up to 64
    first = [Chem.MolToSmiles(m) for m in enumerate_stereo(many, max_isomers=8)]
    again = [Chem.MolToSmiles(m) for m in enumerate_stereo(many, max_isomers=8)]
    assert len(first) == 8 and first == again  # the sample is reproducible
    with pytest.raises(ValueError, match="max_isomers"):
        enumerate_stereo(many, max_isomers=0)
