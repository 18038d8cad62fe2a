"""Execute every notebook in ``notebooks/`` end to end and check its final outputs.

The kernel is this interpreter (the venv's python): a ``python3`` kernelspec pointing at
``sys.executable`` is installed into a temporary ``JUPYTER_PATH``, which takes precedence
over any user or system kernelspec of the same name. Notebooks run in a temporary folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# What the last cells of each notebook must show: (text snippets, needs an image output).
EXPECTED: dict[str, tuple[tuple[str, ...], bool]] = {
    "quickstart_core.ipynb": (("| sampler |", "dpmpp_2m", "Monte Carlo floor", "saved error_vs_nfe.png"), True),
}


def _install_kernel(tmp: Path) -> Path:
    """A ``python3`` kernelspec for ``sys.executable`` under ``tmp/kernels``."""
    spec_dir = tmp / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "molediff test kernel",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return tmp


def _outputs_text(cell) -> tuple[str, bool]:
    text, image = [], False
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            text.append(data.get("text/plain", ""))
            image = image or "image/png" in data
    return "".join(text), image


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jupyter_dir = _install_kernel(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(run_dir)}}
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "some code cell did not run"
    snippets, needs_image = EXPECTED.get(path.name, ((), False))
    last = code_cells[-3:]
    texts, images = zip(*(_outputs_text(c) for c in last), strict=True)
    joined = "\n".join(texts)
    for snippet in snippets:
        assert snippet in joined, f"{path.name}: {snippet!r} not in the final cells' outputs:\n{joined}"
    if needs_image:
        assert any(images), f"{path.name}: no image/png output in the final cells"
    assert elapsed < 60, f"{path.name} took {elapsed:.1f} s (budget 60 s)"
    assert list(run_dir.iterdir()) == [], "the notebook wrote files into its working folder"
