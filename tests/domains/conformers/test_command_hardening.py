"""``molediff conformers`` under bad and unusual input: every case gives its exit code,
one line on stderr and leaves no file changed; inputs as chemists write them work."""

from __future__ import annotations

import os

import pytest
import torch
from rdkit import Chem

from molediff.domains.conformers import command
from molediff.domains.conformers.command import main

FAST = ["--steps", "8", "-q"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the model is ever loaded (errors must come first)."""
    import molediff.inference

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(molediff.inference, "load_model", refuse)


def _one_error_line(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.startswith("molediff conformers: error:"), err
    for w in words:
        assert w in err, err


def _a_directory(d):
    (d / "out").mkdir()
    return d / "out"


def _under_a_file(d):
    (d / "file").write_text("x")
    return d / "file" / "out.sdf"


def _a_fifo(d):
    os.mkfifo(d / "fifo")
    return d / "fifo"


@pytest.mark.parametrize("make, words", [
    (_a_directory, ["directory"]),
    (_under_a_file, ["out.sdf"]),
    (_a_fifo, ["not a regular file"]),
    (lambda d: str(d) + "/", ["ends with '/'"]),
])
def test_bad_output_fails_before_the_model(tmp_path, capsys, no_model, make, words):
    dest = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(capsys, "CCO", "-o", str(dest))
    assert code == 2
    _one_error_line(err, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("args, words", [
    (["--device", "foo"], ["unknown device 'foo'"]),
    (["--sampler-option", "s_noise=nan"], ["NaN"]),
    (["--sampler-option", "s_churn"], ["key=value"]),
    (["--sampler-option", "bogus=1"], ["no option bogus"]),
    (["--max-rounds", "0"], ["--max-rounds"]),
    (["--prune-rms", "-1"], ["--prune-rms"]),
    (["--time-limit", "-5"], ["--time-limit", ">= 0"]),
    (["--time-limit", "nan"], ["--time-limit"]),
    (["-n", "0"], ["--num-confs"]),
    (["--steps", "0"], ["--steps"]),
])
def test_bad_options_one_line_exit_2(tmp_path, capsys, args, words):
    out = tmp_path / "x.sdf"
    code, _, err = run(capsys, "CCO", "-o", str(out), *args)
    assert code == 2
    _one_error_line(err, *words)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only torch")
def test_cuda_on_a_cpu_build(tmp_path, capsys):
    code, _, err = run(capsys, "CCO", "-o", str(tmp_path / "x.sdf"), "--device", "cuda")
    assert code == 2
    _one_error_line(err, "CUDA", "--device cpu")


def test_text_file_as_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    ckpt.write_text("this is not a checkpoint\n" * 10)
    code, _, err = run(capsys, "CCO", "-o", str(tmp_path / "x.sdf"), "--checkpoint", str(ckpt))
    assert code == 2
    _one_error_line(err, "model.pt", "not a readable torch file")


def test_empty_sdf_and_binary_input(tmp_path, capsys, no_model):
    (tmp_path / "empty.sdf").write_text("")
    code, _, err = run(capsys, "-i", str(tmp_path / "empty.sdf"), "-o", str(tmp_path / "x.sdf"))
    assert code == 1
    _one_error_line(err, "empty.sdf")
    (tmp_path / "bin.smi").write_bytes(bytes(range(256)))
    code, _, err = run(capsys, "-i", str(tmp_path / "bin.smi"), "-o", str(tmp_path / "x.sdf"))
    assert code == 1
    _one_error_line(err, "bin.smi")
    assert not (tmp_path / "x.sdf").exists()


def test_files_as_chemists_write_them(tmp_path, capsys):
    (tmp_path / "latin1.smi").write_bytes("CCO éthanol\nCC(=O)[O-].[Na+] acétate de sodium\n"
                                          .encode("latin-1"))
    (tmp_path / "excel.csv").write_bytes("\ufeffSMILES,Name\nCCN,ethylamine\n".encode("utf-8"))
    out = tmp_path / "out.sdf"
    code, _, err = run(capsys, "-i", str(tmp_path / "latin1.smi"), "-n", "2", "-o", str(out), *FAST)
    assert code == 0, err
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert [m.GetProp("_Name") for m in mols] == ["éthanol"] * 2 + ["acétate de sodium"] * 2
    acetate = mols[2]
    assert len(Chem.GetMolFrags(acetate)) == 1 and acetate.GetNumHeavyAtoms() == 4  # no Na+
    assert "dropped [Na+]" in acetate.GetProp("notes")
    code, _, err = run(capsys, "-i", str(tmp_path / "excel.csv"), "-n", "1", "-o", str(out), *FAST)
    assert code == 0, err
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out))] == ["ethylamine"]


def test_stdout_and_symlink_outputs(tmp_path, capsys):
    code, out, err = run(capsys, "CCO", "-n", "2", "-o", "-", *FAST)
    assert code == 0 and out.count("$$$$") == 2 and not (tmp_path / "-").exists()
    target = tmp_path / "real.sdf"
    target.write_text("old")
    link = tmp_path / "link.sdf"
    link.symlink_to(target)
    code, _, err = run(capsys, "CCO", "-n", "1", "-o", str(link), *FAST)
    assert code == 0, err
    assert link.is_symlink() and target.read_text().count("$$$$") == 1


def test_ctrl_c_says_nothing_written(tmp_path, capsys, monkeypatch):
    from molediff.inference.model import Model

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Model, "generate", interrupted)
    out = tmp_path / "x.sdf"
    code, _, err = run(capsys, "CCO", "-o", str(out))
    assert code == 130 and err.strip() == "molediff conformers: interrupted; nothing written"
    assert not out.exists() and not list(tmp_path.iterdir())


def test_enumerate_stereo_covers_every_isomer(tmp_path, capsys):
    out = tmp_path / "iso.sdf"
    code, _, err = run(capsys, "CC(O)C(N)C", "-n", "1", "--enumerate-stereo", "-o", str(out), *FAST)
    assert code == 0, err
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert len(mols) == 4 and len({m.GetProp("_Name") for m in mols}) == 4
    smiles = set()
    for m in mols:
        Chem.AssignStereochemistryFrom3D(m)
        smiles.add(Chem.MolToSmiles(Chem.RemoveHs(m)))
    assert len(smiles) == 4  # four different stereoisomers, each with its own stereo


def test_conformers_depend_on_seed_molecule_and_index_only(tmp_path, capsys):
    a, b = tmp_path / "a.sdf", tmp_path / "b.sdf"
    assert run(capsys, "CCO", "C[C@H](N)C(=O)O", "-n", "3", "--batch-size", "64",
               "-o", str(a), *FAST)[0] == 0
    assert run(capsys, "C[C@H](N)C(=O)O", "CC", "CCO", "-n", "3", "--batch-size", "1",
               "-o", str(b), *FAST)[0] == 0
    pos = {}
    for path in (a, b):
        for m in Chem.SDMolSupplier(str(path), removeHs=False):
            pos.setdefault(m.GetProp("source_smiles"), []).append(m.GetConformer().GetPositions())
    # each molecule appears once per file: its conformers must match across the two runs
    for smi in ("CCO", "C[C@H](N)C(=O)O"):
        first, second = pos[smi][:3], pos[smi][3:]
        assert len(first) == len(second) == 3
        for p, q in zip(first, second, strict=True):
            assert abs(p - q).max() < 1e-3  # SDF keeps 4 decimals


def test_parser_lists_every_option_checked():
    # every integer option of the command is validated by check_args
    args = command.build_parser().parse_args(["CCO", "-o", "x.sdf"])
    assert command.check_args(args) == {}
