"""The package's layers import downward only (utils < core < nn < domains < inference <
train < cli); a domain never imports train/ or cli/, and only its ``command.py`` may use
the inference layer. Every import is checked, including those inside functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "molediff"
LAYERS = ["utils", "core", "nn", "domains", "inference", "train", "cli"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "molediff" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def violations(package: Path = PACKAGE) -> list[str]:
    """Every upward import in ``package``, as ``file:line: a -> b`` strings."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        module = ".".join(rel.parts)
        own = _layer(module)
        if own is None:
            continue
        for line, target in _imports(path):
            other = _layer(target)
            if other is None:
                continue
            allowed = LAYERS.index(other) <= LAYERS.index(own)
            if own == "domains" and other == "inference":
                allowed = path.name == "command.py"
            if not allowed:
                bad.append(f"{path.relative_to(package.parent)}:{line}: {own} -> {target}")
    return bad


def test_no_upward_imports():
    assert violations() == []


def test_the_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "molediff"
    (pkg / "core").mkdir(parents=True)
    (pkg / "domains" / "toy").mkdir(parents=True)
    (pkg / "core" / "bad.py").write_text("def f():\n    from molediff.train.run import train\n")
    (pkg / "domains" / "toy" / "gen.py").write_text("import molediff.inference.model\n")
    (pkg / "domains" / "toy" / "command.py").write_text("from molediff.inference import load_model\n")
    found = violations(pkg)
    assert found == ["molediff/core/bad.py:2: core -> molediff.train.run",
                     "molediff/domains/toy/gen.py:1: domains -> molediff.inference.model"]


@pytest.mark.parametrize("code", [
    # the inference layer and the conformer command (the main job) never load Lightning
    "from molediff.inference import load_model\n"
    "from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT\n"
    "m = load_model(BUNDLED_CHECKPOINT, steps=8)\n"
    "r = m.generate(2, condition='CCO', seed=0)\n"
    "assert r[0].num_conformers == 2\n",
    "import tempfile, os\n"
    "from molediff.cli.main import main\n"
    "out = os.path.join(tempfile.mkdtemp(), 'x.sdf')\n"
    "assert main(['conformers', 'CCO', '-n', '1', '--steps', '8', '-q', '-o', out]) == 0\n"
    "assert os.path.getsize(out) > 0\n",
])
def test_generation_does_not_import_lightning(code):
    probe = code + ("import sys\nleaked = sorted(m for m in sys.modules if m.split('.')[0] in "
                    "('lightning', 'pytorch_lightning', 'lightning_fabric'))\n"
                    "assert not leaked, leaked\nprint('ok')\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


_WITHOUT_CHEM = ("import sys\n"
                 "for m in ('rdkit', 'qm9pack', 'posebusters', 'biotite', 'trimesh'):\n"
                 "    sys.modules[m] = None  # as if the extras were not installed\n"
                 "from molediff.cli.main import main\n")


def test_core_and_digits_need_no_extra(tmp_path):
    """`pip install -e .` alone trains and samples the digits domain."""
    probe = _WITHOUT_CHEM + (
        f"assert main(['train', 'logger=none', 'trainer.max_steps=3', 'sampling.num_samples=8',"
        f" 'trainer.enable_progress_bar=false', 'hydra.run.dir={tmp_path}/run']) == 0\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_a_missing_extra_is_named():
    probe = _WITHOUT_CHEM + "sys.exit(main(['conformers', 'CCO', '-o', 'x.sdf']))\n"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "'rdkit'" in res.stderr and ".[chem]" in res.stderr
