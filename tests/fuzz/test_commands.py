"""Generated command lines and input files for ``molediff conformers`` and
``molediff sample``: whatever comes in, the exit status is one of 0 / 1 / 2 / 130, no
traceback is printed, and no partial or temporary file is left behind.

``MOLEDIFF_FUZZ_EXAMPLES`` sets the cases per test (150 by default; the benchmark runner's
``fuzz`` suite runs 2,000 of each).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("MOLEDIFF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
ALLOWED = {0, 1, 2, 130}

SMILES = ["CCO", "C[C@H](N)C(=O)O", "F/C=C/F", "CC(=O)[O-].[Na+]", "c1ccccc1", "[Cl-]", "C",
          "xyz", "", " ", "C1CC", "CC(C)(C)(C)C", "ICCBr", "[U]", "C" * 70, "CC(O)CN",
          "O=C=O", "N#N", "é", "-n", "--", "C.C"]
FILE_TEXTS = [
    b"", b"CCO ethanol\n", b"\xef\xbb\xbfsmiles,name\nCCO,e\n", "CCO éthanol\n".encode("latin-1"),
    b"smiles\n", b"\x00\x01\x02", b"CCO\nxyz\n\n# c\nC[C@H](N)C(=O)O ala\n", b"$$$$\n",
    b"not,a,header\n1,2,3\n", b"CC(=O)[O-].[Na+] salt\n",
]


def _in_process(argv: list[str]) -> tuple[int, str]:
    from molediff.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse and Hydra's own usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def _snapshot(d: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(d))] = "link->" + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(d))] = p.read_bytes()
        elif p.is_dir():
            out[str(p.relative_to(d))] = "dir"
        else:
            out[str(p.relative_to(d))] = "special"
    return out


def _make_output(d: Path, kind: str) -> str:
    if kind == "-":
        return "-"
    if kind == "dir":
        (d / "outdir").mkdir()
        return str(d / "outdir")
    if kind == "under_file":
        (d / "blocker").write_text("x")
        return str(d / "blocker" / "out.sdf")
    if kind == "fifo":
        os.mkfifo(d / "pipe")
        return str(d / "pipe")
    if kind == "link":
        (d / "target.sdf").write_text("old\n")
        (d / "link.sdf").symlink_to(d / "target.sdf")
        return str(d / "link.sdf")
    if kind == "existing":
        (d / "old.sdf").write_text("old\n")
        return str(d / "old.sdf")
    if kind == "nested":
        return str(d / "a" / "b" / "out.sdf")
    return str(d / "out.sdf")


OPTION = st.one_of(
    st.tuples(st.just("-n"), st.sampled_from(["1", "2", "0", "-1", "x", "2.5"])),
    st.tuples(st.just("--steps"), st.sampled_from(["1", "2", "0", "-3", "abc"])),
    st.tuples(st.just("--device"), st.sampled_from(["cpu", "cuda", "foo", "cuda:7", "auto"])),
    st.tuples(st.just("--sampler-option"),
              st.sampled_from(["s_noise=0.5", "s_noise=nan", "bogus=1", "s_churn", "=1",
                               "s_noise=inf"])),
    st.tuples(st.just("--sampler"), st.sampled_from(["euler", "heun", "nope"])),
    st.tuples(st.just("--max-rounds"), st.sampled_from(["1", "0", "-2"])),
    st.tuples(st.just("--prune-rms"), st.sampled_from(["0", "0.3", "-1", "nan", "inf"])),
    st.tuples(st.just("--batch-size"), st.sampled_from(["1", "3", "0"])),
    st.tuples(st.just("--checkpoint"), st.sampled_from(["missing.pt", "text.pt", "BUNDLED"])),
    st.tuples(st.just("--seed"), st.sampled_from(["0", "7", "-1", "q"])),
    st.tuples(st.sampled_from(["--relax", "--enumerate-stereo", "-q", "--bogus", "--debug-x"]),),
)


@FUZZ
@given(smiles=st.lists(st.sampled_from(SMILES), max_size=3),
       file_text=st.one_of(st.none(), st.sampled_from(FILE_TEXTS)),
       suffix=st.sampled_from([".smi", ".csv", ".sdf", ".txt", ".xyz"]),
       output=st.sampled_from(["new", "-", "dir", "under_file", "fifo", "link", "existing",
                               "nested"]),
       options=st.lists(OPTION, max_size=4))
def test_conformers_command_never_crashes(smiles, file_text, suffix, output, options):
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        (d / "text.pt").write_text("not a checkpoint\n")
        argv = ["conformers", *smiles]
        if file_text is not None:
            (d / f"in{suffix}").write_bytes(file_text)
            argv += ["-i", str(d / f"in{suffix}")]
        out = _make_output(d, output)
        argv += ["-o", out]
        for opt in options:
            argv += [str(BUNDLED_CHECKPOINT) if v == "BUNDLED" else
                     str(d / v) if v in ("missing.pt", "text.pt") else v for v in opt]
        if "--steps" not in argv:
            argv += ["--steps", "8"]  # short but long enough to pass the geometry gate
        before = _snapshot(d)
        code, err = _in_process(argv)
        assert code in ALLOWED, (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        after = _snapshot(d)
        assert not [k for k in after if k.endswith(".tmp") or ".partial-" in k], (argv, after)
        if code != 0:
            # a failed run changes nothing (missing parent directories may be created early)
            assert {k: v for k, v in after.items() if v != "dir"} == \
                   {k: v for k, v in before.items() if v != "dir"}, (argv, err)
        elif out != "-":
            target = Path(out).resolve()
            mols = list(Chem.SDMolSupplier(str(target), removeHs=False))
            assert mols and all(m is not None and m.GetNumConformers() == 1 for m in mols)
    finally:
        shutil.rmtree(d, ignore_errors=True)


SAMPLE_ARGS = st.lists(st.sampled_from([
    "num_samples=2", "num_samples=0", "num_samples=-1", "num_samples=abc", "steps=2", "steps=0",
    "sampler=euler", "sampler=nope", "device=cpu", "device=foo", "seed=3", "batch_size=0",
    "condition=CCO", "condition=[CCO,xyz]", "condition=xyz", "condition='C[C@H](N)C(=O)O'",
    "use_ema=false", "bogus=1", "schedule=cosine", "guidance=cfg", "torch_threads=1",
    "compute_metrics=false", "expect_domain=digits", "ckpt_path=missing.pt",
    "ckpt_path=text.pt",
]), max_size=4)


@FUZZ
@given(args=SAMPLE_ARGS, output=st.sampled_from(["new", "under_file", "file"]))
def test_sample_command_never_crashes(args, output):
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        (d / "text.pt").write_text("not a checkpoint\n")
        run_dir = d / "run"
        if output == "under_file":
            (d / "blocker").write_text("x")
            run_dir = d / "blocker" / "run"
        elif output == "file":
            run_dir.write_text("x")
        args = [a.replace("missing.pt", str(d / "missing.pt")).replace("text.pt", str(d / "text.pt"))
                for a in args]
        if not any(a.startswith("ckpt_path=") for a in args):
            args.append(f"ckpt_path={BUNDLED_CHECKPOINT}")
        if not any(a.startswith("num_samples=") for a in args):
            args.append("num_samples=2")
        if not any(a.startswith("condition=") for a in args):
            args.append("condition=CCO")
        if not any(a.startswith("steps=") for a in args):
            args.append("steps=8")
        before = _snapshot(d)
        code, err = _in_process(["sample", *args, f"hydra.run.dir={run_dir}"])
        assert code in ALLOWED, (args, code, err)
        assert "Traceback" not in err, (args, err)
        after = _snapshot(d)
        assert not [k for k in after if ".partial-" in k or k.endswith(".tmp")], after
        if code == 0:
            assert (run_dir / "metrics.json").is_file() and (run_dir / "conformers.sdf").is_file()
        else:
            assert not (run_dir / "metrics.json").exists() or before == after
    finally:
        shutil.rmtree(d, ignore_errors=True)
