"""Start-up suite: what a command costs before it does any work, before and after the
inference layer (a Lightning-free generation path), measured side by side in one run.

"Before" is commit ``49c5fec`` (the last one before ``molediff.inference``), checked out
into a temporary git worktree and put first on ``PYTHONPATH``; "after" is this tree. Each
row is the median wall time of ``repeats`` runs of a fresh interpreter, the two versions
alternating so that machine load hits both alike:

- ``conformers CCO -n 1``: the whole main job for one small molecule (the bundled model,
  8 sampler steps, enough to pass the geometry gate);
- ``import sample task``: importing the module behind ``molediff sample`` / ``evaluate``
  (``molediff.train.run`` before, ``molediff.inference.run`` after);
- ``load_model``: reading, verifying and building the bundled conformer model.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "49c5fec"

CASES: dict[str, dict[str, str]] = {
    "conformers CCO -n 1": {
        "before": "from molediff.cli.main import main; import sys; "
                  "sys.exit(main(['conformers','CCO','-n','1','--steps','8','-q','-o',OUT]))",
        "after": "from molediff.cli.main import main; import sys; "
                 "sys.exit(main(['conformers','CCO','-n','1','--steps','8','-q','-o',OUT]))",
    },
    "import sample task": {
        "before": "import molediff.train.run",
        "after": "import molediff.inference.run",
    },
    "load bundled conformer model": {
        "before": "from molediff.domains.conformers.generate import ConformerGenerator as G; G()",
        "after": "from molediff.inference import load_model; "
                 "from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT as B; "
                 "load_model(B)",
    },
}


def _time(code: str, pythonpath: str | None, out: str) -> float:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    probe = f"OUT = {out!r}\n{code}\n"
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         timeout=600, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{code!r} failed: {res.stderr[-1000:]}")
    return seconds


def _which_package(pythonpath: str | None) -> str:
    env = os.environ | ({"PYTHONPATH": pythonpath} if pythonpath else {})
    return subprocess.run([sys.executable, "-c", "import molediff; print(molediff.__file__)"],
                          env=env, capture_output=True, text=True, check=True,
                          cwd=tempfile.gettempdir()).stdout.strip()


def run(quick: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), BEFORE],
                       check=True, capture_output=True)
        try:
            assert _which_package(str(old)).startswith(str(old)), "old tree not imported"
            out = str(Path(tmp) / "x.sdf")
            rows: dict[str, dict[str, float]] = {}
            for name, code in CASES.items():
                times: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(repeats):
                    times["before"].append(_time(code["before"], str(old), out))
                    times["after"].append(_time(code["after"], None, out))
                rows[name] = {k: statistics.median(v) for k, v in times.items()}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           capture_output=True)
    lines = ["| command (fresh interpreter) | before (s) | after (s) | after / before |",
             "|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| `{name}` | {r['before']:.2f} | {r['after']:.2f} | "
                     f"{r['after'] / r['before']:.2f} |")
    table = (f"Median of {repeats} runs each, before = `{BEFORE}`, alternating, one thread.\n\n"
             + "\n".join(lines))
    return {"table": table, "repeats": repeats, "before_commit": BEFORE, "rows": rows}
