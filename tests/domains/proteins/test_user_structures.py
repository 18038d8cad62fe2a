"""Training data from a user's own PDB / mmCIF files: every structure file under a
directory is read, chains are cut at gaps and missing backbone atoms, short and repeated
segments dropped, and the result written in the shipped chains-file format, which
``load_chains`` and ``molediff train`` read back."""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from molediff.domains.proteins.chainfile import kmer_clusters
from molediff.domains.proteins.data import (
    PARTS,
    chains_from_structures,
    load_chains,
    write_chains,
)
from molediff.domains.proteins.io import pdb_text
from molediff.utils.errors import InputError

ROOT = Path(__file__).resolve().parents[3]


def _pdb_with_sequence(coords: np.ndarray, chain: np.ndarray, sequence: str) -> list[str]:
    """PDB lines of a backbone with the native residue names instead of glycine (so that
    sequences, and with them duplicates and the similarity split, are real)."""
    from biotite.sequence import ProteinSequence

    names = [ProteinSequence.convert_letter_1to3(c) for c in sequence]
    lines, row, last = [], -1, None
    for ln in pdb_text(coords, chain).splitlines():
        if ln.startswith("ATOM"):
            key = (ln[21], ln[22:27])
            if key != last:
                row, last = row + 1, key
            ln = ln[:17] + f"{names[row]:>3}" + ln[20:]
        lines.append(ln)
    return lines


def _drop(lines: list[str], residues: set[int], atom: str | None = None) -> list[str]:
    """``lines`` without the given residue numbers (only their ``atom`` when given)."""
    return [ln for ln in lines if not (
        ln.startswith("ATOM") and int(ln[22:26]) in residues
        and (atom is None or ln[12:16].strip() == atom))]


def _centred(xyz: np.ndarray) -> np.ndarray:
    return xyz - xyz[:, 1].mean(0)


@pytest.fixture(scope="module")
def structures(tmp_path_factory, native_test_chains):
    """A directory of structure files made from native held-out chains, and the segments
    (name -> backbone, Å) a correct reader must find in it."""
    import biotite.structure.io as strucio

    picked = [k for k, (xyz, seq) in enumerate(zip(native_test_chains.coords,
                                                    native_test_chains.sequence, strict=True))
              if len(xyz) >= 110 and set(seq) <= set("ACDEFGHIKLMNPQRSTVWY")][:5]
    bb = [native_test_chains.coords[k].astype(np.float64) for k in picked]
    seq = [native_test_chains.sequence[k] for k in picked]
    root = tmp_path_factory.mktemp("structures")
    expect: dict[str, np.ndarray] = {}

    # two chains in one file
    both = np.concatenate([bb[0], bb[1]])
    lines = _pdb_with_sequence(both, np.repeat([0, 1], [len(bb[0]), len(bb[1])]), seq[0] + seq[1])
    (root / "a.pdb").write_text("\n".join(lines) + "\n")
    expect["a_A"], expect["a_B"] = bb[0], bb[1]

    # residues 90-91 missing (a gap in the numbering): two segments, in a subfolder
    n2 = len(bb[2])
    (root / "sub").mkdir()
    lines = _drop(_pdb_with_sequence(bb[2], np.zeros(n2, int), seq[2]), {90, 91})
    (root / "sub" / "b.pdb").write_text("\n".join(lines) + "\n")
    expect["sub/b_A_1-89"], expect[f"sub/b_A_92-{n2}"] = bb[2][:89], bb[2][91:]

    # residue 20 without its O: residues 1-19 are too short, 21-end is kept; gzipped mmCIF
    n3 = len(bb[3])
    lines = _drop(_pdb_with_sequence(bb[3], np.zeros(n3, int), seq[3]), {20}, atom="O")
    tmp = root.parent / "c_tmp.pdb"
    tmp.write_text("\n".join(lines) + "\n")
    cif = root.parent / "c_tmp.cif"
    strucio.save_structure(str(cif), strucio.load_structure(str(tmp)))
    (root / "c.cif.gz").write_bytes(gzip.compress(cif.read_bytes()))
    expect[f"c_A_21-{n3}"] = bb[3][20:]

    # a break by distance only (numbering continuous): residues 51- moved 12 Å away, so
    # CA 50 - CA 51 is at least 12 - 3.8 Å, beyond GAP_DISTANCE
    n4 = len(bb[4])
    moved = bb[4].copy()
    moved[50:] += np.array([12.0, 0.0, 0.0])
    (root / "e.ent").write_text("\n".join(_pdb_with_sequence(moved, np.zeros(n4, int), seq[4]))
                                + "\n")
    expect["e_A_1-50"], expect[f"e_A_51-{n4}"] = moved[:50], moved[50:]

    # a copy of a.pdb's chain A under another name: a duplicate sequence
    (root / "dup").mkdir()
    lines = _pdb_with_sequence(bb[0], np.zeros(len(bb[0]), int), seq[0])
    (root / "dup" / "copy.pdb").write_text("\n".join(lines) + "\n")
    # not a structure, and a structure that cannot be read
    (root / "notes.txt").write_text("not a structure\n")
    (root / "broken.pdb").write_text("this is not a PDB file\n")
    return root, expect


def test_segments_counts_and_warning(structures, caplog):
    root, expect = structures
    with caplog.at_level(logging.WARNING, logger="molediff.domains.proteins.data"):
        chains, counts = chains_from_structures(root)
    assert sorted(name for name, _, _ in chains) == sorted(expect)
    assert counts["files"] == 6  # notes.txt is not a structure file
    assert counts["unreadable"] == 1 and counts["duplicate"] == 1 and counts["length"] == 1
    assert counts["cuts"] == 3 and counts["kept"] == len(expect) == 7
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "\n" not in skipped[0]
    assert skipped[0].startswith("skipped unreadable file 1: ") and "broken.pdb" in skipped[0]
    for name, seq, xyz in chains:
        assert len(seq) == len(xyz) and np.abs(xyz - expect[name]).max() < 1e-3 + 1e-6


def test_written_file_reads_back_within_0_01_angstrom(structures, tmp_path):
    root, expect = structures
    chains, _ = chains_from_structures(root)
    out = tmp_path / "mine.npz"
    info = write_chains(out, chains)
    assert info["chains"] == len(expect) and sum(info["sizes"].values()) == len(expect)
    read = {part: load_chains(part, out) for part in PARTS}
    assert sum(len(r) for r in read.values()) == len(expect)
    assert len(read["train"]) >= 1 and len(read["valid"]) >= 1 and len(read["test"]) >= 1
    for r in read.values():
        for name, xyz, seq in zip(r.name, r.coords, r.sequence, strict=True):
            assert len(seq) == len(xyz)
            assert np.abs(xyz - _centred(expect[name])).max() < 0.01
    # the documented split rule: no shared sequence cluster across parts
    with np.load(out) as z:
        cluster, part = z["cluster"], z["part"]
        assert all(len(set(part[cluster == c].tolist())) == 1 for c in np.unique(cluster))
        assert np.array_equal(cluster, kmer_clusters([str(q) for q in z["sequence"]]))


def _script():
    spec = importlib.util.spec_from_file_location("build_protein_data",
                                                  ROOT / "scripts" / "build_protein_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_builds_the_file_and_refuses_an_empty_directory(structures, tmp_path, capsys):
    root, expect = structures
    out = tmp_path / "cli.npz"
    script = _script()
    assert script.main(["--structures", str(root), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "'unreadable': 1" in captured.out
    assert "skipped 1 unreadable file(s) of 6" in captured.err
    assert sum(len(load_chains(p, out)) for p in PARTS) == len(expect)
    with np.load(out) as z:
        assert "structure files under" in str(z["meta_source"])

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no structure files"):
        chains_from_structures(empty)
    assert script.main(["--structures", str(empty), "--out", str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: no structure files" in err[0]
    assert not (tmp_path / "x.npz").exists()


def test_only_unreadable_files_is_one_clear_error(tmp_path):
    (tmp_path / "bad.cif").write_text("data_x\n")
    with pytest.raises(InputError, match="no usable protein chain.*1 unreadable"):
        chains_from_structures(tmp_path)


def test_training_runs_on_the_built_file(structures, tmp_path):
    """A few steps of ``molediff train experiment=proteins_cpu domain.data_path=...``."""
    from molediff.cli.main import main

    root, _ = structures
    npz = tmp_path / "mine.npz"
    write_chains(npz, chains_from_structures(root)[0])
    run = tmp_path / "run"
    code = main(["train", "experiment=proteins_cpu", f"domain.data_path={npz}",
                 "model.hidden=16", "model.layers=2", "trainer.max_steps=4",
                 "trainer.max_time=null", "trainer.val_check_interval=4", "data.batch_size=2",
                 "data.limit_val_items=2", "sampling.num_samples=0", "checkpoint.every_n_steps=0",
                 "logger=none", f"hydra.run.dir={run}"])
    assert code in (0, None)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["domain"] == "proteins" and metrics["global_step"] == 4
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_selenomethionine_hetatm_does_not_cut_a_chain(tmp_path, native_test_chains):
    """Crystal structures often write MSE as HETATM: kept (as M) so the chain stays whole;
    the design input reader keeps its default of ATOM records only."""
    from molediff.domains.proteins.io import read_backbone

    xyz = native_test_chains.coords[0].astype(np.float64)
    seq = "M" * len(xyz)
    lines = [("HETATM" + ln[6:17] + "MSE" + ln[20:]) if ln.startswith("ATOM")
             and int(ln[22:26]) == 30 else ln
             for ln in _pdb_with_sequence(xyz, np.zeros(len(xyz), int), seq)]
    (tmp_path / "mse.pdb").write_text("\n".join(lines) + "\n")
    chains, counts = chains_from_structures(tmp_path)
    assert [(n, s) for n, s, _ in chains] == [("mse_A", seq)] and counts["cuts"] == 0
    assert len(read_backbone(tmp_path / "mse.pdb").coords) == len(xyz) - 1
