"""A modality defined only in a test folder plus its config files trains, samples,
evaluates and exports through the public commands, touching no package file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "tests" / "toy_modality" / "conf"


def molediff(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "molediff.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_toy_modality_through_the_public_commands(tmp_path):
    run = tmp_path / "train"
    res = molediff("train", f"hydra.searchpath=[file://{CONF}]", "experiment=toy_ring",
                   f"hydra.run.dir={run}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = run / "checkpoints" / "last.ckpt"
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["domain"] == "toy_ring" and trained["global_step"] == 600
    # the training-time samples already lie near the ring (the untrained net does not)
    assert abs(trained["sample_mean_radius"] - 2.0) < 0.3, trained

    out = tmp_path / "sample"
    res = molediff("sample", f"ckpt_path={ckpt}", "num_samples=300", f"hydra.run.dir={out}",
                   "sampler=dpmpp_2m", "steps=16", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["domain"] == "toy_ring" and m["sampler"] == "dpmpp_2m" and m["num_samples"] == 300
    assert m["radius_error"] < 0.25, m  # data radius 2; N(0, σ_data²) noise would give ~0.9
    lines = (out / "points.csv").read_text().splitlines()
    assert lines[0] == "x,y" and len(lines) == 301
    assert "points.csv" in res.stderr and "metrics.json" in res.stderr  # the closing line

    ev = tmp_path / "evaluate"
    res = molediff("evaluate", f"ckpt_path={ckpt}", "num_samples=100", f"hydra.run.dir={ev}",
                   cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    e = json.loads((ev / "metrics.json").read_text())
    assert 0 < e["val_x0_mse"] < 0.5 and e["sample_radius_error"] < 0.3
    assert not any(k.startswith("reference_") for k in e)  # the toy has no references
