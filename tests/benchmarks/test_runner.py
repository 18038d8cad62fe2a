"""The benchmark runner with a tiny fake suite: JSON result, machine info, markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run as runner


def fake_suite(quick: bool) -> dict[str, Any]:
    return {"table": "| a | b |\n|---|---|\n| 1 | 2 |", "value": 3.5, "quick_seen": quick}


def test_runner_writes_json_and_markdown(tmp_path: Path) -> None:
    results, md = tmp_path / "results", tmp_path / "BENCH.md"
    rc = runner.main(["--quick", "--only", "fake"], results_dir=results, markdown=md, suites={"fake": fake_suite})
    assert rc == 0
    rec = json.loads((results / "fake.json").read_text())
    assert rec["suite"] == "fake" and rec["quick"] is True
    assert rec["result"]["value"] == 3.5 and rec["result"]["quick_seen"] is True
    assert rec["command"] == "python -m benchmarks.run --only fake --quick"
    for key in ("cpu", "cores", "torch"):
        assert rec["machine"][key]
    assert rec["date"]
    text = md.read_text()
    assert "## fake" in text and "`python -m benchmarks.run --only fake --quick`" in text
    assert "| 1 | 2 |" in text


def test_markdown_keeps_suites_not_rerun(tmp_path: Path) -> None:
    results, md = tmp_path / "results", tmp_path / "BENCH.md"
    other = {"table": "| other |\n|---|\n| 9 |"}
    suites = {"fake": fake_suite, "other": lambda quick: other}
    assert runner.main(["--only", "other"], results_dir=results, markdown=md, suites=suites) == 0
    assert runner.main(["--only", "fake"], results_dir=results, markdown=md, suites=suites) == 0
    text = md.read_text()
    assert "## fake" in text and "## other" in text and "| 9 |" in text
    assert sorted(p.name for p in results.iterdir()) == ["fake.json", "other.json"]


def test_cli_paths_and_failures(tmp_path: Path) -> None:
    def broken(quick: bool) -> dict[str, Any]:
        return {"no_table": 1}

    results, md = tmp_path / "r", tmp_path / "m.md"
    rc = runner.main(["--only", "broken", "--results-dir", str(results), "--markdown", str(md)], suites={"broken": broken})
    assert rc == 1 and md.exists() and not (results / "broken.json").exists()
    with pytest.raises(SystemExit):
        runner.main(["--only", "nope"], results_dir=results, markdown=md, suites={"fake": fake_suite})


def test_discovery_finds_core() -> None:
    assert "core" in runner.discover()


def test_results_elsewhere_never_overwrite_the_repository_markdown(tmp_path: Path) -> None:
    before = runner.DEFAULT_MARKDOWN.read_bytes()
    results = tmp_path / "r"
    assert runner.main(["--only", "fake", "--results-dir", str(results)], suites={"fake": fake_suite}) == 0
    assert runner.DEFAULT_MARKDOWN.read_bytes() == before
    assert "## fake" in (results / "BENCHMARKS.md").read_text()
