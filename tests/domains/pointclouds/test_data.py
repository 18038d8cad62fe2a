"""Shape data: the bundled file, mesh loading, normalisation, point files."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from molediff.domains.pointclouds import data as D
from molediff.utils.errors import InputError


def test_bundled_shapes_are_unit_sphere_normalised_and_split():
    s = D.load_shape_file()
    assert s.points.shape[1:] == (2048, 3) and len(s) > 1000
    radius = np.linalg.norm(s.points, axis=2).max(1)
    assert np.allclose(radius, 1.0, atol=2e-3)
    assert np.abs(s.points.mean(1)).max() < 2e-3
    assert set(s.classes) == {"random", "object", "robot_part", "model"}
    parts = [set(s.subset(p).names) for p in D.SPLIT_NAMES]
    assert sum(len(p) for p in parts) == len(s) and not (parts[0] & parts[1]) and not (parts[0] & parts[2])
    assert all(D.split_part(n) == k for k, p in enumerate(parts) for n in list(p)[:5])
    unit = np.linalg.norm(s.normals[:5], axis=2)
    assert np.allclose(unit[unit > 0], 1.0, atol=0.02)


def test_mesh_file_to_normalised_points(tmp_path):
    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    box.apply_translation((5.0, 0.0, 0.0))
    path = tmp_path / "box.stl"
    box.export(path)
    pts, nrm = D.mesh_point_cloud(path, 512)
    assert pts.shape == (512, 3) and nrm.shape == (512, 3)
    assert np.linalg.norm(pts, axis=1).max() == pytest.approx(1.0)
    assert np.abs(pts.mean(0)).max() < 1e-6


def test_mesh_directory_loads_and_skips_bad_files(tmp_path):
    trimesh.creation.icosphere().export(tmp_path / "a.obj")
    trimesh.creation.box().export(tmp_path / "sub.ply")
    (tmp_path / "broken.obj").write_text("this is not a mesh\n")
    s = D.load_mesh_dir(tmp_path, 256)
    assert sorted(s.names) == ["a.obj", "sub.ply"] and s.classes == ["user"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no loadable mesh"):
        D.load_mesh_dir(tmp_path / "empty", 16)
    with pytest.raises(InputError, match="not a directory"):
        D.load_mesh_dir(tmp_path / "missing", 16)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.fbx", "", "unsupported mesh file type"),
    ("empty.obj", "", "empty mesh|cannot read"),
    ("flat.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate|empty"),
])
def test_bad_meshes_get_one_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        D.load_mesh(path)


def test_read_points_formats_and_errors(tmp_path):
    pts = np.random.default_rng(0).normal(size=(20, 3))
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.xyz", pts)
    (tmp_path / "p.csv").write_text("x,y,z\n" + "\n".join(",".join(map(str, r)) for r in pts))
    trimesh.PointCloud(pts).export(tmp_path / "p.ply")
    for name in ("p.npy", "p.xyz", "p.csv", "p.ply"):
        assert np.allclose(D.read_points(tmp_path / name), pts, atol=1e-6), name
    bad = pts.copy()
    bad[3, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match="infinite"):
        D.read_points(tmp_path / "bad.npy")
    with pytest.raises(InputError, match="unsupported point file type"):
        D.read_points(tmp_path / "p.pcd")
    with pytest.raises(InputError, match="normalise|coincide"):
        D.normalise(np.ones((5, 3)))
