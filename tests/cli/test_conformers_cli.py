"""``molediff conformers`` and ``scripts/generate_conformers.py``: SDF round trip through
RDKit, per-molecule error messages, exit codes, no output left behind on failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from rdkit import Chem

from molediff.cli.testing import run_cli
from molediff.domains.conformers.command import main as conformers_main

ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path) -> list[Chem.Mol]:
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_cli_subprocess_roundtrip(tmp_path):
    out = tmp_path / "ala.sdf"
    smi = "C[C@H](N)C(=O)O"
    proc = run_cli("molediff.cli.main", ["conformers", smi, "-n", "3", "--steps", "8",
                                          "--seed", "1", "-o", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1/1 molecules, 3 conformers" in proc.stderr
    mols = _read(out)
    assert len(mols) == 3 and all(m is not None for m in mols)
    want = Chem.MolToSmiles(Chem.MolFromSmiles(smi))
    for k, m in enumerate(mols):
        assert m.GetNumAtoms() == 13  # hydrogens included
        Chem.AssignStereochemistryFrom3D(m)
        assert Chem.MolToSmiles(Chem.RemoveHs(m)) == want  # connectivity and stereo
        assert m.GetProp("source_smiles") == smi and m.GetIntProp("index") == k
        assert m.GetProp("stereo") in ("sampled", "mirrored")
        assert m.HasProp("mol_mirrored") and m.HasProp("mol_dropped")
    assert not list(tmp_path.glob(".*tmp"))


def test_cli_options_relax_prune_sampler(tmp_path, capsys):
    out = tmp_path / "o.sdf"
    code = conformers_main(["CCO", "CC(C)=O", "-n", "2", "--sampler", "euler", "--steps", "8",
                            "--relax", "--prune-rms", "0.01", "--batch-size", "3", "-o", str(out)])
    assert code == 0
    mols = _read(out)
    assert {m.GetProp("source_smiles") for m in mols} == {"CCO", "CC(C)=O"}
    assert all(m.HasProp("energy") for m in mols)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["C1CC"], "invalid SMILES"),
        (["[Si](C)(C)C"], "unsupported element 'Si'"),
        (["CCCCCCCC", "--max-heavy-atoms", "4"], "more than the limit"),
    ],
)
def test_cli_bad_input_fails_without_output(tmp_path, capsys, args, message):
    out = tmp_path / "bad.sdf"
    code = conformers_main([*args, "-n", "2", "--steps", "8", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and message in err
    # one line: the command's error naming the molecule, no traceback
    assert err.startswith("molediff conformers: error: ") and "no molecule" in err
    assert err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_partial_failure_continues(tmp_path, capsys):
    out = tmp_path / "mixed.sdf"
    code = conformers_main(["CCO", "not_a_smiles", "-n", "2", "--steps", "8", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "molecule 2 (not_a_smiles): invalid SMILES" in err
    assert len(_read(out)) == 2


@pytest.mark.parametrize(
    ("option", "message"),
    [("s_noise", "is not key=value"), ("s_noise=low", "is not a number"),
     ("churn=1", "has no option churn")],
)
def test_cli_bad_sampler_option(tmp_path, capsys, option, message):
    out = tmp_path / "x.sdf"
    assert conformers_main(["CCO", "--sampler-option", option, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("molediff conformers: error: ") and err.count("\n") == 1
    assert not out.exists()


def test_cli_sampler_option_reaches_the_sampler(tmp_path, capsys):
    # same seed, same start; only the churn noise scale differs, so the option must
    # reach the sampler for the coordinates to differ
    outs = []
    for noise in ("0", "1"):
        out = tmp_path / f"n{noise}.sdf"
        assert conformers_main(["CCO", "-n", "1", "--steps", "8", "--seed", "3",
                                "--sampler-option", f"s_noise={noise}", "-o", str(out)]) == 0
        outs.append(_read(out)[0].GetConformer().GetPositions())
    assert abs(outs[0] - outs[1]).max() > 1e-3


def test_cli_empty_file_and_missing_checkpoint(tmp_path, capsys):
    empty = tmp_path / "empty.smi"
    empty.write_text("\n# nothing\n")
    out = tmp_path / "x.sdf"
    assert conformers_main(["-i", str(empty), "-o", str(out)]) == 1
    assert "no molecules" in capsys.readouterr().err
    assert conformers_main(["-i", str(tmp_path / "absent.smi"), "-o", str(out)]) == 1
    assert "input file not found" in capsys.readouterr().err
    assert conformers_main(["CCO", "--checkpoint", str(tmp_path / "nope.pt"), "-o", str(out)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert conformers_main(["-o", str(out)]) == 2  # nothing to do: a usage error
    assert "molediff conformers: error: give at least one SMILES" in capsys.readouterr().err
    assert not out.exists()


def test_script_reads_files(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gen_script", ROOT / "scripts" / "generate_conformers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nC1CC broken\nC[C@H](N)C(=O)O ala\n")
    csv = tmp_path / "in.csv"
    csv.write_text("name,smiles\nacetone,CC(C)=O\n")
    sdf = tmp_path / "in.sdf"
    m = Chem.AddHs(Chem.MolFromSmiles("OCC=O"))
    w = Chem.SDWriter(str(sdf))
    w.write(m)
    w.close()
    for path, n_ok in ((smi, 2), (csv, 1), (sdf, 1)):
        out = tmp_path / f"{path.suffix[1:]}.sdf"
        code = mod.main([str(path), "-n", "2", "--steps", "8", "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        assert len({x.GetProp("source_smiles") for x in _read(out)}) == n_ok
        if path is smi:
            assert "molecule 2 (C1CC): invalid SMILES" in err
