"""``molediff collect-sweep`` on fake sweep directories: colliding override/metric names,
failed jobs, non-numeric metrics, the line plot (error vs NFE, one line per sampler), the
bar fallback and the error paths."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from molediff.cli.collect_sweep import (
    collect,
    main,
    plan_plot,
    plot_series,
    render_plot,
    sweep_frame,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SAMPLERS = ("euler", "heun", "dpmpp_2m")
STEPS = (5, 10, 20)
NFE_PER_STEP = {"euler": 1, "heun": 2, "dpmpp_2m": 1}


def make_job(sweep: Path, num: int, overrides: list[str], metrics: Any = None) -> Path:
    """One Hydra job directory: ``.hydra/overrides.yaml`` and (unless None) ``metrics.json``;
    ``metrics`` may be a string to write a broken file."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if isinstance(metrics, str):
        (job / "metrics.json").write_text(metrics)
    elif metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


def fd(sampler: str, steps: int) -> float:
    return 10.0 / (steps * NFE_PER_STEP[sampler])


def nfe(sampler: str, steps: int) -> float:
    return float(steps * NFE_PER_STEP[sampler] - (1 if sampler == "heun" else 0))


FAILED = 4  # heun, steps=10: no metrics.json


@pytest.fixture
def eval_sweep(tmp_path: Path) -> Path:
    """What ``molediff evaluate -m ckpt_path=... sampler=euler,heun,dpmpp_2m steps=5,10,20``
    leaves: metrics.json repeats ``steps`` (and ``sampler``, a string) and has non-numeric
    entries; job 4 failed."""
    sweep = tmp_path / "sweep"
    num = 0
    for sampler in SAMPLERS:
        for steps in STEPS:
            metrics = None if num == FAILED else {
                "val_x0_mse": 0.125, "sample_fd": fd(sampler, steps),
                "sample_nfe": nfe(sampler, steps), "sample_seconds": None,
                "steps": steps, "sampler": sampler, "checkpoint": "/ckpt/last.ckpt",
                "domain": "digits", "files": ["samples.npz"], "converged": True,
            }
            make_job(sweep, num, ["ckpt_path=/ckpt/last.ckpt", f"sampler={sampler}",
                                  f"steps={steps}"], metrics)
            num += 1
    (sweep / "multirun.yaml").write_text("hydra: {}\n")  # a file, not a job
    return sweep


def test_evaluate_sweep_writes_all_three_with_steps_once(eval_sweep, capsys):
    assert main([str(eval_sweep)]) == 0
    assert "| job | status | sampler | steps |" in capsys.readouterr().out
    table = pd.read_csv(eval_sweep / "sweep.csv")
    assert list(table.columns) == ["job", "status", "ckpt_path", "sampler", "steps",
                                   "val_x0_mse", "sample_fd", "sample_nfe", "sample_seconds"]
    assert list(table["job"]) == list(range(9))
    assert list(table["sampler"]) == [s for s in SAMPLERS for _ in STEPS]
    assert list(table["steps"]) == [n for _ in SAMPLERS for n in STEPS]
    assert list(table["status"]) == ["failed" if i == FAILED else "ok" for i in range(9)]
    ok = table.drop(index=FAILED)
    grid = [(s, n) for s in SAMPLERS for n in STEPS]
    del grid[FAILED]
    assert ok["sample_fd"].tolist() == pytest.approx([fd(s, n) for s, n in grid])
    assert ok["sample_nfe"].tolist() == [nfe(s, n) for s, n in grid]
    assert table.loc[FAILED, ["val_x0_mse", "sample_fd", "sample_nfe"]].isna().all()
    assert table["sample_seconds"].isna().all()  # null in metrics.json
    assert set(table["ckpt_path"]) == {"/ckpt/last.ckpt"}

    md = (eval_sweep / "sweep.md").read_text()
    lines = md.splitlines()
    header = ("| job | status | sampler | steps | val_x0_mse | sample_fd | sample_nfe "
              "| sample_seconds |")
    assert header in lines
    assert "| 3 | ok | heun | 5 | 0.125 | 1 | 9 | nan |" in lines
    assert "| 4 | failed | heun | 10 |  |  |  |  |" in lines
    assert "Common overrides: `ckpt_path=/ckpt/last.ckpt`" in md
    assert "`steps`: the metric equals the override in every job; shown once." in md
    assert md.count("| ok |") == 8

    png = (eval_sweep / "sweep.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_disagreeing_metric_is_renamed_and_reserved_names_are_prefixed(tmp_path):
    sweep = tmp_path / "s"
    make_job(sweep, 0, ["steps=5", "status=draft"], {"steps": 5, "job": 7, "loss": 1.0})
    make_job(sweep, 1, ["steps=10", "status=final"], {"steps": 11, "job": 8, "loss": 0.5})
    assert main([str(sweep)]) == 0
    table = pd.read_csv(sweep / "sweep.csv")
    assert list(table.columns) == ["job", "status", "steps", "override:status",
                                   "metric:steps", "metric:job", "loss"]
    assert table["steps"].tolist() == [5, 10]  # the override keeps the plain name
    assert table["metric:steps"].tolist() == [5.0, 11.0]
    assert table["status"].tolist() == ["ok", "ok"]
    assert table["override:status"].tolist() == ["draft", "final"]
    assert table["job"].tolist() == [0, 1] and table["metric:job"].tolist() == [7.0, 8.0]
    md = (sweep / "sweep.md").read_text()
    assert "`steps` is both an override and a metric; the metric is `metric:steps`." in md
    assert "`status`: renamed `override:status`" in md
    assert "| 1 | ok | 10 | final | 11 | 8 | 0.5 |" in md


def test_merge_needs_every_job_to_agree_but_ignores_jobs_without_the_metric(tmp_path):
    sweep = tmp_path / "s"
    make_job(sweep, 0, ["steps=5"], {"steps": 5.0, "loss": 1.0})
    make_job(sweep, 1, ["steps=1e1"], {"steps": None, "loss": 0.5})  # null: no evidence
    make_job(sweep, 2, ["steps=20"], None)
    s = collect(sweep)
    assert s.merged == ["steps"] and s.metrics == ["loss"] and s.overrides == ["steps"]
    make_job(sweep, 3, ["sampler=euler"], {"steps": 18, "loss": 0.1})  # no steps override
    s = collect(sweep)
    assert s.merged == [] and s.metrics == ["metric:steps", "loss"]
    assert [r["status"] for r in s.rows] == ["ok", "ok", "failed", "ok"]


def test_plot_is_error_vs_nfe_one_line_per_sampler(eval_sweep):
    s = collect(eval_sweep)
    df = sweep_frame(s)
    plan = plan_plot(df, s.overrides, s.metrics)
    assert plan.kind == "lines" and plan.x == "sample_nfe" and plan.trace == "steps"
    assert plan.groups == ("sampler",)
    # val_x0_mse is the same in every job, sample_seconds never has a value: not plotted
    assert plan.metrics == ("sample_fd",)
    series = plot_series(df, plan, "sample_fd")
    assert list(series) == ["sampler=euler", "sampler=heun", "sampler=dpmpp_2m"]
    assert series["sampler=euler"] == ([5.0, 10.0, 20.0], pytest.approx([2.0, 1.0, 0.5]))
    # the failed heun job (steps=10) is left out
    assert series["sampler=heun"] == ([9.0, 39.0], pytest.approx([1.0, 0.25]))

    fig = render_plot(df, plan)
    ax = fig.axes[0]
    drawn = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
             for line in ax.get_lines()}
    assert drawn == series
    assert ax.get_xlabel() == "sample_nfe" and ax.get_title() == "sample_fd"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(series)

    by_steps = plan_plot(df, s.overrides, s.metrics, x="steps")
    assert by_steps.x == "steps" and by_steps.groups == ("sampler",)
    assert "sample_nfe" in by_steps.metrics
    assert plot_series(df, by_steps, "sample_nfe")["sampler=heun"] == ([5.0, 20.0], [9.0, 39.0])


def test_a_steps_override_runs_along_the_lines_when_nfe_is_constant(tmp_path):
    sweep = tmp_path / "s"
    for num, (model, n) in enumerate([(m, n) for m in ("a", "b") for n in (8, 4)]):
        make_job(sweep, num, [f"model={model}", f"sampler.steps={n}", "seed=0"],
                 {"loss": n + (model == "b"), "nfe": 3})  # nfe the same everywhere: not the x
    s = collect(sweep)
    df = sweep_frame(s)
    plan = plan_plot(df, s.overrides, s.metrics)
    assert (plan.kind, plan.x, plan.trace) == ("lines", "sampler.steps", "sampler.steps")
    assert plan.groups == ("model",)  # seed is the same in every job
    assert plot_series(df, plan, "loss") == {"model=a": ([4.0, 8.0], [4.0, 8.0]),
                                             "model=b": ([4.0, 8.0], [5.0, 9.0])}


def test_first_varying_numeric_override_when_none_is_named_steps(tmp_path):
    sweep = tmp_path / "s"
    num = 0
    for lr in ("1e-3", "1e-2"):
        for scale in ("1.5", "3.0"):
            make_job(sweep, num, ["model=a", f"guidance.scale={scale}", f"lr={lr}"],
                     {"loss": float(scale) * float(lr)})
            num += 1
    s = collect(sweep)
    df = sweep_frame(s)
    plan = plan_plot(df, s.overrides, s.metrics)
    assert (plan.x, plan.groups) == ("guidance.scale", ("lr",))  # model is constant
    series = plot_series(df, plan, "loss")
    assert list(series) == ["lr=1e-3", "lr=1e-2"]
    assert series["lr=1e-2"] == ([1.5, 3.0], pytest.approx([0.015, 0.03]))
    by_lr = plot_series(df, plan_plot(df, s.overrides, s.metrics, x="lr"), "loss")
    assert by_lr["guidance.scale=3.0"] == ([0.001, 0.01], pytest.approx([0.003, 0.03]))


def test_bars_when_nothing_numeric_varies(tmp_path):
    sweep = tmp_path / "s"
    for num, (sampler, schedule) in enumerate([("euler", "karras"), ("heun", "cosine")]):
        make_job(sweep, num, [f"sampler={sampler}", f"schedule={schedule}", "sampler.steps=3"],
                 {"loss": 1.0 + num, "sample_nfe": 3})
    s = collect(sweep)
    df = sweep_frame(s)
    plan = plan_plot(df, s.overrides, s.metrics)
    assert plan.kind == "bars" and plan.x is None and plan.metrics == ("loss",)
    with pytest.raises(ValueError):
        plot_series(df, plan, "loss")
    ax = render_plot(df, plan).axes[0]
    assert [p.get_width() for p in ax.patches] == [1.0, 2.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sampler=euler, schedule=karras",
                                                          "sampler=heun, schedule=cosine"]
    assert main([str(sweep)]) == 0
    assert (sweep / "sweep.png").read_bytes().startswith(PNG_MAGIC)


def test_metrics_option_selects_md_and_png_but_csv_keeps_all(eval_sweep, tmp_path):
    out = tmp_path / "out"
    assert main([str(eval_sweep), "--out", str(out), "--metrics", "val_x0_mse,sample_fd"]) == 0
    assert not (eval_sweep / "sweep.csv").exists()
    assert "sample_nfe" in pd.read_csv(out / "sweep.csv").columns
    md_lines = (out / "sweep.md").read_text().splitlines()
    header = next(line for line in md_lines if line.startswith("| job"))
    assert header == "| job | status | sampler | steps | val_x0_mse | sample_fd |"
    assert (out / "sweep.png").read_bytes().startswith(PNG_MAGIC)


def test_failed_and_unreadable_jobs_still_give_three_files(tmp_path):
    sweep = tmp_path / "s"
    make_job(sweep, 0, ["lr=0.1"], None)
    make_job(sweep, 1, ["lr=0.2"], "{truncated")
    make_job(sweep, 2, ["lr=0.3"], "[1, 2]")
    assert main([str(sweep)]) == 0
    table = pd.read_csv(sweep / "sweep.csv")
    assert table["status"].tolist() == ["failed", "invalid", "invalid"]
    assert list(table.columns) == ["job", "status", "lr"]
    assert "3 jobs (3 without metrics)" in (sweep / "sweep.md").read_text()
    assert (sweep / "sweep.png").read_bytes().startswith(PNG_MAGIC)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("missing", [], "no such sweep directory"),
        ("file", [], "no such sweep directory"),
        ("empty", [], "no Hydra job directories"),
        ("sweep", ["--x", "nope"], "--x nope: no such override or metric"),
        ("sweep", ["--x", "sampler"], "--x sampler: not numeric"),
        ("sweep", ["--metrics", "sample_fd,bogus"], "unknown metric(s) bogus"),
        ("bad_yaml", [], "not a YAML list of overrides"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(
    eval_sweep, tmp_path, capsys, setup, extra, message
):
    target = {"missing": tmp_path / "nope", "file": tmp_path / "f.txt", "empty": tmp_path / "empty",
              "sweep": eval_sweep, "bad_yaml": eval_sweep}[setup]
    if setup == "file":
        target.write_text("x")
    elif setup == "empty":
        target.mkdir()
    elif setup == "bad_yaml":
        (eval_sweep / "0" / ".hydra" / "overrides.yaml").write_text("sampler: [unclosed\n")
    assert main([str(target), *extra]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("molediff collect-sweep: error: ") and message in line
    assert not any((eval_sweep / f"sweep.{k}").exists() for k in ("csv", "md", "png"))


def test_molediff_dispatcher_reports_the_error(tmp_path, eval_sweep, capsys):
    from molediff.cli.main import main as molediff_main

    assert molediff_main(["collect-sweep", str(tmp_path / "absent")]) == 2
    expected = f"molediff collect-sweep: error: no such sweep directory: {tmp_path / 'absent'}"
    assert _one_error_line(capsys.readouterr().err) == expected
    assert molediff_main(["collect-sweep", str(eval_sweep), "--x", "steps"]) == 0
    assert capsys.readouterr().err == ""
    assert math.isclose(pd.read_csv(eval_sweep / "sweep.csv")["sample_fd"].iloc[0], 2.0)


def test_a_failing_plot_writes_nothing_and_is_one_internal_error_line(
    eval_sweep, capsys, monkeypatch
):
    import molediff.cli.collect_sweep as cs

    def broken(*_: Any) -> Any:
        raise RuntimeError("renderer exploded\nsecond line")

    monkeypatch.setattr(cs, "render_plot", broken)
    monkeypatch.delenv("MOLEDIFF_DEBUG", raising=False)
    assert main([str(eval_sweep)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("molediff collect-sweep: internal error: RuntimeError: ")
    assert "renderer exploded second line" in line
    # rendered in memory first: no CSV / markdown without the PNG
    assert not any((eval_sweep / f"sweep.{k}").exists() for k in ("csv", "md", "png"))
    monkeypatch.setenv("MOLEDIFF_DEBUG", "1")
    with pytest.raises(RuntimeError, match="renderer exploded"):
        main([str(eval_sweep)])
