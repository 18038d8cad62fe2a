"""``molediff pointclouds`` end to end: a tiny model trained through ``molediff train``
then sampled, meshed, checked and exported through the command; bad input fails early."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A 64-point, 2-layer model trained for 6 steps with the CPU experiment's recipe."""
    from molediff.cli.main import main

    run = tmp_path_factory.mktemp("train")
    code = main(["train", "experiment=pointclouds_cpu", "domain.num_points=64",
                 "domain.limit_train=16", "model.hidden=16", "model.layers=2",
                 "trainer.max_steps=6", "trainer.val_check_interval=6", "data.batch_size=4",
                 "data.limit_val_items=4", "sampling.num_samples=2", "checkpoint.every_n_steps=0",
                 "logger=none", f"hydra.run.dir={run}"])
    assert code in (0, None)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["domain"] == "pointclouds" and metrics["global_step"] == 6
    ckpt = run / "checkpoints" / "last.ckpt"
    from molediff.inference import load_model

    # the data's class names are recorded by training (Domain.config_entries)
    assert list(load_model(ckpt).config.domain.classes) == ["random", "object", "robot_part",
                                                             "model"]
    return ckpt


def test_train_then_generate_checked_assets(tiny_checkpoint, tmp_path, cli):
    out = tmp_path / "assets"
    code, err = cli("pointclouds", f"checkpoint={tiny_checkpoint}", "num_samples=3",
                    f"out={out}", "steps=4", "condition=[object,model]", "formats=[glb,stl]",
                    "guidance=cfg", "guidance.scale=2")
    assert code == 0, err
    assert "3 requested" in err and "wrote" in err and "preview.png" in err
    m = json.loads((out / "metrics.json").read_text())
    assert m["points"] == 64 and m["steps"] == 4
    assert m["num_shapes"] + m["dropped"] == 3
    assets = json.loads((out / "assets.json").read_text())["assets"]
    assert [a["label"] for a in assets][:2] in (["object", "model"], ["object", "object"],
                                                 ["model", "object"], ["model", "model"])
    for a in assets:  # every written mesh passed the check and reloads watertight
        assert a["watertight"] and a["bodies"] == 1
        mesh = trimesh.load(out / f"{a['name']}.glb", force="mesh")
        assert mesh.is_watertight
        assert len(trimesh.load(out / f"{a['name']}_points.ply").vertices) == 64


@pytest.mark.parametrize(("args", "message"), [
    (["num_samples=0"], "num_samples"),
    (["formats=[fbx]"], "unsupported mesh format"),
    (["colour=red"], "colour"),
    (["oops"], "key=value"),
    (["pose=maybe"], "pose must be true or false"),
    (["num_points=5"], "num_points must be >= 8, got 5"),
    (["num_points=2.5"], "num_points must be a positive integer"),
    (["checkpoint=/nonexistent.pt"], "nonexistent"),
])
def test_bad_options_fail_before_any_model_work(tmp_path, cli, args, message):
    out = tmp_path / "o"
    code, err = cli("pointclouds", f"out={out}", *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_unknown_class_and_an_existing_output_dir(tiny_checkpoint, tmp_path, cli):
    code, err = cli("pointclouds", f"checkpoint={tiny_checkpoint}", f"out={tmp_path / 'a'}",
                    "condition=chair")
    assert code == 2 and "unknown shape class 'chair'" in err
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    busy = tmp_path / "busy"  # an existing directory: the user's files stay
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    code, err = cli("pointclouds", f"checkpoint={tiny_checkpoint}", f"out={busy}",
                    "num_samples=1", "steps=2", "mesh=false")
    assert code == 0, err
    assert (busy / "keep.txt").read_text() == "mine" and (busy / "shape_000_points.ply").exists()
    assert not list(busy.glob(".partial-*"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, err = cli("pointclouds", f"checkpoint={tiny_checkpoint}", f"out={a_file}")
    assert code == 2 and "file" in err


def test_too_few_points_for_the_knn_network_fail_before_the_model_is_built(
        tiny_checkpoint, tmp_path, cli, monkeypatch):
    import molediff.inference
    from molediff.inference import checkpoint_config, load_checkpoint

    k = int(checkpoint_config(load_checkpoint(tiny_checkpoint)).model.k)

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(molediff.inference, "load_model", no_model)
    out = tmp_path / "o"
    code, err = cli("pointclouds", f"checkpoint={tiny_checkpoint}", f"out={out}",
                    f"num_points={k}")
    assert code == 2, err
    assert f"more than the network's kNN k={k}" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_exported_checkpoint_names_its_classes(tiny_checkpoint, tmp_path):
    """``config_entries`` merged at export: the loaded model knows its classes from its
    config, without reading the shape file."""
    from molediff.inference import export_checkpoint, load_model

    trained = load_model(tiny_checkpoint)
    classes = trained.domain.class_names()
    slim = export_checkpoint(tiny_checkpoint, tmp_path / "slim.pt", expect_domain="pointclouds",
                             domain=trained.domain.config_entries())
    model = load_model(slim)
    assert list(model.config.domain.classes) == classes
    assert model.domain.class_names() == classes and model.domain._shapes is None


def test_export_script_continues_past_a_bad_shape(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.normal(size=(400, 3))
    good /= np.linalg.norm(good, axis=1, keepdims=True)
    np.save(tmp_path / "ball.npy", good)
    np.save(tmp_path / "few.npy", good[:4])
    (tmp_path / "x.pcd").write_text("nope")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_pointclouds.py"),
                          str(tmp_path / "ball.npy"), str(tmp_path / "few.npy"),
                          str(tmp_path / "x.pcd"), "-o", str(out), "--formats", "stl"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "1 of 3 shapes exported, 2 failed" in res.stderr
    assert "few.npy: 4 points: need more than k=8" in res.stderr
    assert "unsupported point file type '.pcd'" in res.stderr
    assert trimesh.load(out / "shape_000.stl").is_watertight
