"""``--model auto``: molecules inside QM9's training range go to the QM9 model, the rest
to the drug-like one; the SDF says which model made each conformer."""

from __future__ import annotations

import pytest
from rdkit import Chem

from molediff.domains.chem.inputs import MoleculeInput
from molediff.domains.conformers.command import main
from molediff.domains.conformers.routing import in_qm9_range, route


@pytest.mark.parametrize("item, inside", [
    ("CCO", True),
    ("OC1C2CC3CC1CC(C2)C3", False),            # 11 heavy atoms
    ("CC(C)C1CCC(C)CC1O", False),              # menthol: 11 heavy atoms
    ("CC1=CC(=O)C=CC1=O", True),               # 9 heavy atoms: the edge of QM9
    ("ClCCl", False),                          # Cl: an element QM9 lacks
    ("CC(=O)[O-].[Na+]", True),                # the salt's largest fragment is acetate
    ("not a smiles", False),
    (MoleculeInput(smiles="CCN", name="ethylamine", mol=None, source="test"), True),
])
def test_qm9_range(item, inside):
    assert in_qm9_range(item) is inside


def test_route_keeps_input_order_within_each_model():
    inputs = ["CCO", "c1ccccc1Br", "CCN", Chem.MolFromSmiles("CCCCCCCCCCCC")]
    assert route(inputs) == {"qm9": [0, 2], "drugs": [1, 3]}
    assert route(["CCO"]) == {"qm9": [0]}


def test_auto_sends_each_molecule_to_its_model(tmp_path, capsys):
    out = tmp_path / "mixed.sdf"
    code = main(["CCO", "Clc1ccc(O)cc1", "-n", "2", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    models = {m.GetProp("source_smiles"): m.GetProp("model") for m in mols}
    assert len(mols) == 4
    assert models["CCO"] == "conformers_qm9.pt"
    assert models["Clc1ccc(O)cc1"].startswith("conformers_drugs.pt (ETKDG-seeded")
    assert "conformers_qm9.pt: 1 molecule(s)" in err and "wrote" in err


def test_one_model_for_all_or_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "qm9.sdf"
    code = main(["Clc1ccc(O)cc1", "--model", "qm9", "-n", "1", "-q", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "element Cl" in err and err.count("\n") == 1 and not out.exists()
    code = main(["CCO", "--model", "drugs", "--checkpoint", "x.pt", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--checkpoint and --model drugs" in err and not out.exists()
