"""``--model auto``: molecules inside QM9's training range go to the QM9 model, the rest
to the drug-like one; the SDF says which model made each conformer."""

from __future__ import annotations

import pytest
from rdkit import Chem

from molediff.domains.chem.inputs import MoleculeInput
from molediff.domains.conformers.command import main
from molediff.domains.conformers.routing import generate_by_model, in_qm9_range, route


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


def test_unreadable_inputs_go_to_no_model():
    unreadable = MoleculeInput(smiles="", name="broken", mol=None, source="x.sdf:record 2",
                               error="cannot read the record")
    inputs = ["CCO", "not a smiles", "c1ccccc1Br", "", unreadable]
    assert route(inputs) == {"qm9": [0], "drugs": [2]}
    assert route(["not a smiles", unreadable]) == {}
    # given to no model, they still get their one-line error, in input order
    results = generate_by_model([], inputs[1:2] + inputs[3:], 2)
    assert [r.ok for r in results] == [False, False, False]
    assert results[0].error == "invalid SMILES: 'not a smiles'"
    assert results[2].error == "x.sdf:record 2: cannot read the record"
    assert results[2].name == "broken" and results[0].model is None
    with pytest.raises(ValueError, match="given to no model"):
        generate_by_model([], ["CCO"], 2)


def test_an_unreadable_input_loads_no_model(tmp_path, capsys, monkeypatch):
    """Formerly an invalid SMILES was routed to the drug-like model: it got loaded, and the
    summary counted the invalid input as one of its molecules."""
    import molediff.inference as inference

    loaded = []
    real = inference.load_model

    def recording(path, *args, **kwargs):
        loaded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(inference, "load_model", recording)
    out = tmp_path / "out.sdf"
    code = main(["CCO", "not a smiles", "-n", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [p.rsplit("/", 1)[-1] for p in loaded] == ["conformers_qm9.pt"]
    assert "molecule 2 (not a smiles): invalid SMILES" in err
    assert "models: conformers_qm9.pt: 1 molecule(s)\n" in err and "drugs" not in err
    loaded.clear()
    code = main(["not a smiles", "-n", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "invalid SMILES" in err and not loaded
