"""The voxel meshing pipeline, its check and its fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from molediff.domains.pointclouds.meshing import (
    MIN_VOLUME_SPACINGS,
    MeshResult,
    check_points,
    degenerate_volume,
    estimate_normals,
    mesh_from_points,
    point_spacing,
)
from molediff.utils.errors import InputError


def sphere_points(n: int = 1024, radius: float = 1.0, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, 3))
    return radius * x / np.linalg.norm(x, axis=1, keepdims=True)


def test_sphere_points_give_one_watertight_body_close_to_the_points():
    pts = sphere_points()
    res = mesh_from_points(pts)
    assert res.ok and res.method == "voxel" and res.bodies == 1
    assert res.volume == pytest.approx(4 / 3 * math.pi, rel=0.2)
    assert res.chamfer <= 1.5 * res.spacing
    assert res.spacing == pytest.approx(point_spacing(pts))
    assert res.summary()["watertight"] is True


def test_real_shape_torus_meshes_without_filling_its_hole():
    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35)
    pts, _ = trimesh.sample.sample_surface(torus, 2048, seed=0)
    res = mesh_from_points(np.asarray(pts))
    assert res.ok and res.method == "voxel"
    assert res.mesh.euler_number == 0  # genus 1: the hole survived the closing
    assert res.volume == pytest.approx(torus.volume, rel=0.35)


def test_shrink_wrap_brings_the_surface_onto_the_points_keeping_topology():
    """The closing leaves the surface outside the points; the shrink-wrap pulls it back:
    closer in both directions, still one watertight genus-1 body of about the right
    volume (the mean of 8 neighbours lies a little inside a curved surface)."""
    from scipy.spatial import cKDTree

    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35)
    pts = np.asarray(trimesh.sample.sample_surface(torus, 2048, seed=1)[0])
    plain = mesh_from_points(pts, wrap_iterations=0)
    wrapped = mesh_from_points(pts)
    assert wrapped.ok and wrapped.mesh.euler_number == 0
    assert wrapped.chamfer < 0.95 * plain.chamfer

    def points_to_surface(res):
        surf = np.asarray(trimesh.sample.sample_surface(res.mesh, 40000, seed=0)[0])
        return cKDTree(surf).query(pts)[0].mean()

    assert points_to_surface(wrapped) < 0.8 * points_to_surface(plain)
    assert wrapped.volume == pytest.approx(torus.volume, rel=0.06)


def test_far_apart_parts_fall_back_to_the_convex_hull():
    pts = np.concatenate([sphere_points(300, 0.3), sphere_points(300, 0.3, seed=1) + 5.0])
    res = mesh_from_points(pts)
    assert res.method == "convex_hull" and res.ok
    assert any("bodies=2" in n for n in res.notes)
    without = mesh_from_points(pts, convex_hull_fallback=False)
    assert without.method == "voxel" and not without.ok and without.bodies == 2


def test_estimated_normals_point_outwards():
    pts = sphere_points(512)
    res = mesh_from_points(pts)
    n = estimate_normals(res.mesh, pts)
    assert (np.sum(n * pts, axis=1) > 0).mean() > 0.98


@pytest.mark.parametrize(("points", "message"), [
    (np.full((10, 3), np.nan), "NaN"),
    (np.zeros((3, 3)) + [1, 2, 3], "need more than"),
    (np.zeros((50, 3)), "coincide"),
    (np.zeros((50, 2)), r"\[P, 3\]"),
])
def test_bad_point_clouds_get_one_clear_message(points, message):
    with pytest.raises(InputError, match=message):
        mesh_from_points(points)


def test_check_points_respects_k():
    with pytest.raises(InputError, match="k=8"):
        check_points(sphere_points(8), k=8)
    assert check_points(sphere_points(9), k=8).shape == (9, 3)


def test_a_mesh_of_near_zero_volume_for_its_spacing_fails_the_check():
    flat = trimesh.creation.box(extents=(1.0, 1.0, 1e-9))  # watertight, one body, no volume
    res = MeshResult(flat, "voxel", True, 1, abs(flat.volume), 0.0, spacing=0.05)
    assert res.degenerate and not res.ok
    assert degenerate_volume(0.0, 0.05) and degenerate_volume(float("nan"), 0.05)
    assert not degenerate_volume(MIN_VOLUME_SPACINGS * 0.05 ** 3, 0.05)
    solid = mesh_from_points(sphere_points())
    assert not solid.degenerate and solid.volume > 1000 * solid.spacing ** 3


def test_a_closing_that_encloses_almost_nothing_is_retried_larger():
    """16 scattered points: the first closing leaves a blob around a voxel or two (one
    watertight body of ~1e-6 cubed spacings); the check moves on to a larger closing."""
    pts = np.random.default_rng(1).normal(size=(16, 3))
    res = mesh_from_points(pts)
    assert res.ok and res.method == "voxel" and res.closing != (1, 1)
    assert res.volume >= MIN_VOLUME_SPACINGS * res.spacing ** 3
    assert any(n.startswith("voxel closing 1/1: watertight=True, bodies=1, volume=")
               for n in res.notes)


def test_coplanar_points_give_a_flat_convex_hull_that_fails_the_check():
    xy = np.random.default_rng(0).uniform(-1, 1, size=(256, 2))
    plate = np.c_[xy, np.zeros(len(xy))]
    with np.errstate(invalid="ignore", divide="ignore"):  # trimesh's centre of a flat hull
        res = mesh_from_points(plate, closings=())
    assert res.method == "convex_hull" and res.degenerate and not res.ok
    assert mesh_from_points(plate).ok  # the voxel closing gives the plate a thickness
