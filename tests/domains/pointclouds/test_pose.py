"""The pose prior: rotation-invariant principal frames, poses drawn from training shapes, and
its known effect on 1-NNA (random orientation vs real poses)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from molediff.domains.pointclouds.data import load_shape_file
from molediff.domains.pointclouds.domain import PointCloudDomain
from molediff.domains.pointclouds.metrics import compare_sets
from molediff.domains.pointclouds.pose import PosePrior, principal_frame
from molediff.utils.errors import InputError


def skewed_box(seed: int = 0, n: int = 400) -> np.ndarray:
    """Points in a 3 x 2 x 1 box, denser towards +x, +y and +z (every axis skewed)."""
    u = np.random.default_rng(seed).random((n, 3)) ** 0.5
    return u * np.array([3.0, 2.0, 1.0])


def rotate(points: np.ndarray, seed: int) -> np.ndarray:
    return points @ Rotation.random(random_state=seed).as_matrix().T


def test_principal_frame_is_rotation_invariant_and_proper():
    box = skewed_box()
    canonical, rot, spread = principal_frame(box)
    assert np.allclose(canonical @ rot.T, box - box.mean(0), atol=1e-9)
    assert np.isclose(np.linalg.det(rot), 1.0) and np.all(np.diff(spread) < 0)
    # the axes follow the box's extents, longest first
    assert np.allclose(np.abs(rot), np.eye(3), atol=0.1)
    for seed in range(5):
        again, rot2, spread2 = principal_frame(rotate(box, seed) + 7.0)
        assert np.allclose(again, canonical, atol=1e-8) and np.allclose(spread2, spread)


def test_pose_returns_a_rotated_shape_to_its_training_pose():
    shapes = np.stack([skewed_box(0), rotate(skewed_box(1), 3), skewed_box(2) * 0.5])
    prior = PosePrior.from_shapes(shapes, np.array([0, 1, 1]))
    gen = torch.Generator().manual_seed(0)
    for k in range(3):  # the nearest spreads are the shape's own: its own pose comes back
        moved = rotate(shapes[k], 10 + k) + 1.5
        posed = prior.pose(moved, gen, neighbours=1)
        assert np.allclose(posed - posed.mean(0), shapes[k] - shapes[k].mean(0), atol=1e-8)
        assert np.allclose(posed.mean(0), moved.mean(0))  # the centroid stays
    # a class restricts the pool: class 0 has one shape, so its pose is the one drawn
    posed = prior.pose(rotate(shapes[2], 20), gen, label=0, neighbours=3)
    assert np.allclose(principal_frame(posed)[1], prior.rotations[0], atol=1e-8)


def test_pose_prior_undoes_random_orientation_on_real_shapes():
    """Known answer: training shapes against held-out ones sit near 50 % 1-NNA; rotated at
    random (what an equivariant model draws) they are told apart; posed, they are not."""
    shapes = load_shape_file()
    train, test = shapes.subset("train"), shapes.subset("test")
    rng = np.random.default_rng(0)
    n = 48

    def subset(points: np.ndarray) -> np.ndarray:
        out = np.stack([p[rng.choice(len(p), 256, replace=False)] for p in points])
        return out - out.mean(1, keepdims=True)

    ref = subset(test.points[:n])
    sample = subset(train.points[rng.choice(len(train), n, replace=False)])
    rotated = np.stack([rotate(p, 100 + k) for k, p in enumerate(sample)])
    prior = PosePrior.from_shapes(train.points, train.labels)
    gen = torch.Generator().manual_seed(0)
    posed = np.stack([prior.pose(p, gen) for p in rotated])

    def nna(a: np.ndarray) -> float:
        return compare_sets(torch.from_numpy(a).float(), torch.from_numpy(ref).float(),
                            emd=False)["1nna_cd"]

    assert nna(rotated) >= 0.70
    assert nna(posed) <= 0.62


def test_domain_poses_generated_shapes_unless_turned_off():
    def draw(template, cond, space, generator):  # a long, skewed shape in a random pose
        boxes = [rotate(skewed_box(k, 64), k) for k in range(space.num_samples)]
        return torch.from_numpy(np.concatenate(boxes)).float()

    classes = ["random", "object", "robot_part", "model"]
    off = PointCloudDomain(num_points=64, classes=classes, mesh=False, pose_prior=False)
    on = PointCloudDomain(num_points=64, classes=classes, mesh=False)
    raw = off.generate(draw, 2, seed=0)
    posed = on.generate(draw, 2, seed=0)
    bank = on.poses()
    for r, p in zip(raw, posed, strict=True):
        assert np.allclose(principal_frame(r.points)[0], principal_frame(p.points)[0], atol=1e-5)
        rot = principal_frame(p.points)[1]  # one of the training shapes' poses
        assert np.abs(bank.rotations - rot).max(axis=(1, 2)).min() < 1e-4
        assert not np.allclose(r.points, p.points, atol=1e-3)


def test_missing_training_shapes_name_the_way_out(tmp_path):
    d = PointCloudDomain(num_points=64, mesh_dir=str(tmp_path / "gone"), classes=["user"],
                         mesh=False)
    with pytest.raises(InputError, match="pose prior needs the model's training shapes.*"
                                         "pose=false"):
        d.generate(lambda t, c, s, g: torch.randn(t.shape, generator=g), 1)
    d.pose_prior = False
    assert len(d.generate(lambda t, c, s, g: torch.randn(t.shape, generator=g), 1)) == 1
