"""The point-cloud domain: data to (x0, cond, space), templates, conditions, the checked
generation path with resampling / dropping / counting, and export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from omegaconf import OmegaConf

from molediff.domains.pointclouds import domain as domain_module
from molediff.domains.pointclouds.domain import (
    MIN_POINTS,
    PointCloudDomain,
    PointCloudSample,
    check_num_points,
    model_knn_k,
)
from molediff.domains.pointclouds.meshing import MeshResult
from molediff.utils.errors import InputError, UsageError

CLASSES = ["random", "object", "robot_part", "model"]


def sphere_draw(bad: set[tuple[int, int]] = frozenset(), radius: float = 0.8):
    """A stand-in sampler: unit-ish spheres, NaN for (call, graph) pairs in ``bad``."""
    calls = {"n": 0}

    def draw(template, cond, space, generator):
        calls["n"] += 1
        x = torch.randn(template.shape, generator=generator)
        x = radius * x / x.norm(dim=1, keepdim=True)
        for call, graph in bad:
            if call == calls["n"]:
                x[cond.batch == graph] = float("nan")
        return x

    return draw


def test_training_batches_are_centred_graphs_with_class_conditions():
    d = PointCloudDomain(num_points=64, limit_train=6)
    ds = d.train_dataset()
    assert len(ds) == 6
    batch = d.collate([ds[0], ds[1], ds[2]])
    x0, cond, space = d.batch_to(batch)
    assert x0.shape == (192, 3) and space.num_samples == 3
    assert torch.allclose(space.project(x0), x0, atol=1e-5)  # centred per shape
    assert cond.y.shape == (3, len(CLASSES) + 1) and torch.all(cond.y[:, -1] == 1)
    dropped = PointCloudDomain(num_points=64, cond_dropout=1.0, classes=CLASSES).drop_condition(cond)
    assert torch.all(dropped.y == 0) and torch.all(cond.y[:, -1] == 1)  # input untouched
    assert torch.all(d.null_cond(cond).y == 0)
    assert d.net_kwargs() == {"in_features": 3, "graph_cond_features": 5}
    val = d.val_dataset()
    assert torch.equal(val[0].pos, val[0].pos)  # fixed subset for validation
    assert torch.equal(val[0].pos, d.val_dataset()[0].pos)


def test_template_and_conditions():
    d = PointCloudDomain(num_points=32, classes=CLASSES)
    x, cond, space = d.template(3, condition=["object", None, "model"])
    assert x.shape == (96, 3) and space.num_samples == 3
    assert cond.y[0, CLASSES.index("object")] == 1 and cond.y[0, -1] == 1
    assert torch.all(cond.y[1] == 0)  # None: the null (unconditional) row
    assert d.parse_condition("random", 2) == ["random", "random"]
    with pytest.raises(UsageError, match="unknown shape class 'chair'"):
        d.parse_condition("chair", 1)
    unconditional = PointCloudDomain(num_points=32, conditional=False, classes=CLASSES)
    with pytest.raises(UsageError, match="unconditional"):
        unconditional.parse_condition("object", 1)
    assert unconditional.net_kwargs()["graph_cond_features"] == 0


def test_generate_checks_resamples_drops_and_counts(tmp_path):
    d = PointCloudDomain(num_points=256, classes=CLASSES, max_rounds=2)
    # call 1 (round 1) breaks graph 1; call 2 (round 2, one shape) passes
    out = d.generate(sphere_draw({(1, 1)}), 3, seed=0, batch_size=8)
    assert len(out) == 3 and out.dropped == 0 and out.resampled == 1
    assert out.failures == {"non-finite points": 1}
    assert [s.rounds for s in out] == [1, 2, 1]
    assert all(s.mesh.ok for s in out)
    # graph 0 fails in both rounds: dropped and counted
    out = d.generate(sphere_draw({(1, 0), (2, 0)}), 2, seed=0, batch_size=8)
    assert len(out) == 1 and out.dropped == 1 and out.failures["non-finite points"] == 2
    m = d.metrics(out)
    assert m["dropped"] == 1 and m["watertight_single_body"] == 1.0
    with pytest.raises(InputError, match="no shape passed"):
        d.generate(sphere_draw({(1, 0), (2, 0)}), 1)
    with pytest.raises(UsageError, match="options"):
        d.generate(sphere_draw(), 1, colour="red")


def test_generation_is_deterministic_for_a_seed():
    d = PointCloudDomain(num_points=64, classes=CLASSES, mesh=False)
    a = d.generate(sphere_draw(), 2, seed=5)
    b = d.generate(sphere_draw(), 2, seed=5)
    assert all(np.array_equal(p.points, q.points) for p, q in zip(a, b, strict=True))


def test_export_writes_reloadable_assets(tmp_path):
    d = PointCloudDomain(num_points=512, classes=CLASSES)
    samples = d.generate(sphere_draw(), 2, condition="object", seed=1)
    files = d.export(samples, tmp_path)
    names = {p.name for p in files}
    assert {"preview.png", "assets.json", "shape_000.glb", "shape_001.stl",
            "shape_000_points.ply", "shape_000.obj", "shape_000.ply"} <= names
    for fmt in ("ply", "obj", "glb", "stl"):
        mesh = trimesh.load(tmp_path / f"shape_000.{fmt}", force="mesh")
        assert mesh.is_watertight and len(mesh.faces) > 100, fmt
    cloud = trimesh.load(tmp_path / "shape_000_points.ply")
    assert len(cloud.vertices) == 512
    header = (tmp_path / "shape_000_points.ply").read_bytes()[:400]
    assert b"property float nx" in header  # normals estimated from the mesh
    meta = json.loads((tmp_path / "assets.json").read_text())
    assert meta["assets"][0]["label"] == "object" and meta["assets"][0]["watertight"] is True
    assert (tmp_path / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_num_points_needs_the_minimum_and_more_than_the_networks_knn_k():
    assert check_num_points("64") == 64 and check_num_points(MIN_POINTS) == MIN_POINTS
    assert check_num_points(11, k=10) == 11
    for bad, message in ((5, f"num_points must be >= {MIN_POINTS}, got 5"),
                         (2.5, "num_points must be a positive integer"),
                         (True, "num_points must be a positive integer")):
        with pytest.raises(UsageError, match=message):
            check_num_points(bad)
    with pytest.raises(UsageError, match="more than the network's kNN k=10 .*got 10"):
        check_num_points(10, k=10)
    with pytest.raises(UsageError, match=">= 8"):
        PointCloudDomain(num_points=5, classes=CLASSES)
    assert model_knn_k(OmegaConf.create({"edges": "knn", "k": 10})) == 10
    assert model_knn_k(OmegaConf.create({"edges": "full", "k": 10})) is None


def test_build_net_checks_and_keeps_the_knn_k_for_later_changes():
    model_cfg = OmegaConf.create({"_target_": "molediff.nn.egnn.EGNN", "hidden": 8,
                                  "layers": 1, "edges": "knn", "k": 10})
    with pytest.raises(UsageError, match="kNN k=10"):  # a training run that cannot work
        PointCloudDomain(num_points=10, classes=CLASSES).build_net(model_cfg)
    d = PointCloudDomain(num_points=64, classes=CLASSES)
    d.build_net(model_cfg)
    assert d.knn_k == 10
    with pytest.raises(UsageError, match="kNN k=10"):
        d.num_points = 9
    assert d.num_points == 64  # unchanged by the refused value
    d.num_points = 11
    assert d.num_points == 11


def test_check_rejects_a_mesh_of_near_zero_volume(monkeypatch):
    flat = trimesh.creation.box(extents=(1.0, 1.0, 1e-9))

    def collapsed(points, pitch_factor):  # a watertight single body with no volume
        return MeshResult(flat, "voxel", True, 1, abs(flat.volume), 0.0, spacing=0.05)

    monkeypatch.setattr(domain_module, "mesh_from_points", collapsed)
    d = PointCloudDomain(num_points=64, classes=CLASSES)
    sample = PointCloudSample(np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32))
    assert d.check(sample) == "mesh of (near-)zero volume"
    assert sample.mesh is not None and not sample.mesh.ok


def test_config_entries_name_the_data_classes():
    d = PointCloudDomain(num_points=64)
    assert d.config_entries() == {"classes": list(d.shapes().classes)}
    assert PointCloudDomain(num_points=64, classes=CLASSES).config_entries() == {
        "classes": CLASSES}
