"""Fuzz suite: generated command lines and input files for ``molediff conformers`` and
``molediff sample`` (``tests/fuzz``), 2,000 cases each (200 with ``--quick``). A case
passes when the exit status is 0 / 1 / 2 / 130, nothing printed a traceback and no partial
or temporary file was left; the table counts cases and failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TESTS = ("test_conformers_command_never_crashes", "test_sample_command_never_crashes")


def run(quick: bool = False) -> dict[str, Any]:
    examples = 200 if quick else 2000
    env = os.environ | {"MOLEDIFF_FUZZ_EXAMPLES": str(examples), "OMP_NUM_THREADS": "1"}
    rows = {}
    for test in TESTS:
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0",
             f"tests/fuzz/test_commands.py::{test}", "--hypothesis-show-statistics"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        # "- 2000 passing, 0 failing, and 3 invalid test cases", once per phase
        passing = [int(n) for n in re.findall(r"(\d+) passing", res.stdout)]
        stopped = re.findall(r"Stopped because (.*)", res.stdout)
        rows[test] = {"cases": sum(passing), "passed": res.returncode == 0,
                      "stopped_because": stopped[0].strip() if stopped else None,
                      "seconds": seconds,
                      "failure": None if res.returncode == 0 else res.stdout[-2000:]}
    lines = ["| command | generated cases | result | seconds |", "|---|---|---|---|"]
    for test, r in rows.items():
        lines.append(f"| `{test}` | {r['cases']} | {'pass' if r['passed'] else 'FAIL'} | "
                     f"{r['seconds']:.0f} |")
    return {"table": "\n".join(lines), "examples_per_test": examples, "rows": rows}
