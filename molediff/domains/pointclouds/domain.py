"""The point-cloud domain: surface points of shapes diffused over a
:class:`~molediff.core.space.GraphSpace` (coordinates only, centred per shape).

- ``x``: ``[N, 3]`` points in unit-sphere shape units (see :mod:`.data`), centred per
  shape (the space projects).
- ``cond``: a PyG ``Batch`` with ``batch`` and, for a class-conditional model, ``y [B, C+1]``:
  the class one-hot and a flag 1; the null condition of classifier-free guidance is all
  zeros (flag 0), which no real class equals. The EGNN builds kNN edges itself.
- decoded samples: :class:`PointCloudSample` (points, class); :meth:`generate` meshes
  every sample (:mod:`.meshing`), checks it (one watertight body), resamples failures,
  then drops and counts what still fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

from molediff.core.space import GraphSpace
from molediff.domains.base import Draw, Generator, Progress
from molediff.domains.graph_domain import GraphDomain
from molediff.domains.pointclouds import data as shape_data
from molediff.domains.pointclouds.meshing import MeshResult, mesh_from_points
from molediff.domains.pointclouds.pose import PosePrior
from molediff.utils.errors import InputError, UsageError
from molediff.utils.validate import positive_int

#: fewest points per shape: the mesher averages each surface vertex over its 8 nearest
#: points (:func:`~molediff.domains.pointclouds.meshing.shrink_wrap`), and fewer points
#: outline no shape a mesh could follow
MIN_POINTS = 8

#: standard deviation of the unit-sphere-normalised bundled shapes (train split: 0.33 over
#: all axes, 0.27 / 0.42 / 0.28 per axis; the largest is used)
SHAPES_SIGMA_DATA = 0.40


def model_knn_k(model_cfg: Any) -> int | None:
    """The ``k`` of a network config with kNN edges (``edges: knn``), else ``None``."""
    if model_cfg is None or model_cfg.get("edges") != "knn" or model_cfg.get("k") is None:
        return None
    return int(model_cfg.get("k"))


def check_num_points(num_points: Any, k: int | None = None) -> int:
    """``num_points`` as an int if a shape of that many points can be sampled and meshed:
    at least :data:`MIN_POINTS`, and more than ``k`` for a network with kNN edges (each
    point needs ``k`` other points; with fewer the network sees a different graph than it
    was trained on and the shapes come out degenerate).

    Raises:
        UsageError: one message naming the limit.
    """
    n = positive_int(num_points, "num_points")
    if n < MIN_POINTS:
        raise UsageError(f"num_points must be >= {MIN_POINTS}, got {n}")
    if k is not None and n <= k:
        raise UsageError(f"num_points must be more than the network's kNN k={k} (each point "
                         f"needs {k} neighbours), got {n}")
    return n


@dataclass
class PointCloudSample:
    """One generated shape.

    Attributes:
        points: ``[P, 3]`` float32 points (shape units).
        label: class name, or ``None`` for an unconditional sample.
        mesh: its mesh and measurements (``None`` when meshing was off).
        rounds: sampling rounds it took (1: the first draw passed the check).
    """

    points: np.ndarray
    label: str | None = None
    mesh: MeshResult | None = None
    rounds: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class GeneratedShapes(list):
    """The samples that passed (a list) plus the counts of what failed."""

    requested: int = 0
    dropped: int = 0
    resampled: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class _PointDataset(Dataset):
    """Shapes as PyG graphs of ``num_points`` points; training draws a fresh random
    subset of the stored points each time (an augmentation), evaluation a fixed one."""

    def __init__(self, shapes: shape_data.ShapeSet, num_points: int, y_rows: np.ndarray | None,
                 random_subset: bool, seed: int = 0) -> None:
        self.shapes, self.num_points, self.y_rows = shapes, num_points, y_rows
        self.random_subset, self.seed = random_subset, seed

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, k: int) -> Data:
        pts = self.shapes.points[int(k)]
        rng = np.random.default_rng(None if self.random_subset else (self.seed, int(k)))
        take = rng.choice(len(pts), self.num_points, replace=len(pts) < self.num_points)
        pos = torch.from_numpy(pts[take] - pts[take].mean(0))
        item = Data(pos=pos, num_nodes=self.num_points)
        if self.y_rows is not None:
            item.y = torch.from_numpy(self.y_rows[self.shapes.labels[int(k)]][None])
        return item


class PointCloudDomain(GraphDomain):
    """Point clouds of real meshes (pybullet / assimp / pymeshlab shapes, or a user's
    directory of meshes).

    Args:
        shapes_file: shape file from ``scripts/build_shape_data.py`` (null: bundled).
        mesh_dir: a directory of mesh files to train on instead (class ``user``).
        num_points: points per shape (training and sampling): at least
            :data:`MIN_POINTS` and more than the k of a kNN network.
        conditional: class-conditional (classifier-free guidance ready) or not.
        sigma_data: per-axis standard deviation of the data (shape units).
        cond_dropout: probability of the null class in training.
        limit_train: first N training shapes only (tests).
        max_rounds: sampling rounds for shapes whose mesh fails the check.
        mesh: mesh every sample in :meth:`generate` (the check needs it).
        pitch_factor: voxel pitch in mean nearest-neighbour spacings (meshing).
        pose_prior: give each generated shape the pose of training shapes like it
            (:mod:`~molediff.domains.pointclouds.pose`); off: the random orientation the
            equivariant network draws.
    """

    name = "pointclouds"
    #: ``k`` of the network's kNN edges once :meth:`build_net` has seen its config
    knn_k: int | None = None

    def __init__(self, shapes_file: str | None = None, mesh_dir: str | None = None,
                 num_points: int = 2048, conditional: bool = True,
                 sigma_data: float = SHAPES_SIGMA_DATA, cond_dropout: float = 0.1,
                 limit_train: int | None = None, max_rounds: int = 3, mesh: bool = True,
                 pitch_factor: float = 2.0, classes: Sequence[str] | None = None,
                 pose_prior: bool = True) -> None:
        super().__init__(sigma_data=sigma_data, cond_dropout=cond_dropout if conditional else 0.0)
        self.shapes_file, self.mesh_dir = shapes_file, mesh_dir
        self.num_points = num_points  # checked by the setter
        self.conditional = bool(conditional)
        self.limit_train = limit_train
        self.max_rounds, self.mesh, self.pitch_factor = int(max_rounds), bool(mesh), pitch_factor
        # class names are part of the model (stored in its config): known before setup
        self.classes = list(classes) if classes is not None else None
        self._shapes: shape_data.ShapeSet | None = None
        self.pose_prior = bool(pose_prior)
        self._poses: PosePrior | None = None

    @property
    def num_points(self) -> int:
        """Points per shape (training and sampling)."""
        return self._num_points

    @num_points.setter
    def num_points(self, value: Any) -> None:
        # every change goes through the check, so a sampler asked for fewer points than
        # the network's kNN k fails here, not after rounds of degenerate shapes
        self._num_points = check_num_points(value, self.knn_k)

    # ----------------------------------------------------------------- data
    def shapes(self) -> shape_data.ShapeSet:
        """All shapes (every split part)."""
        if self._shapes is None:
            if self.mesh_dir:
                self._shapes = shape_data.load_mesh_dir(self.mesh_dir, max(self.num_points, 2048))
            else:
                self._shapes = shape_data.load_shape_file(self.shapes_file
                                                          or shape_data.DEFAULT_SHAPES)
            if self.classes is None:
                self.classes = list(self._shapes.classes)
            elif list(self.classes) != list(self._shapes.classes):
                raise InputError(f"the data's classes {self._shapes.classes} differ from the "
                                 f"configured domain.classes {self.classes} (set "
                                 "domain.classes=null to take the data's)")
        return self._shapes

    def class_names(self) -> list[str]:
        if self.classes is None:
            self.shapes()
        assert self.classes is not None
        return self.classes

    def config_entries(self) -> dict[str, Any]:
        """What the data decided that the domain config leaves open: the class names (the
        network's condition width and the meaning of each class depend on them). Training
        writes them into the run's stored config; for a checkpoint trained without them,
        ``export_checkpoint(src, dst, domain=load_model(src).domain.config_entries())``.
        Either way the model names its classes without the shape file."""
        return {"classes": list(self.class_names())}

    def y_rows(self) -> np.ndarray:
        """``[C, C+1]`` condition rows: class one-hot then the flag 1."""
        c = len(self.class_names())
        return np.concatenate([np.eye(c, dtype=np.float32), np.ones((c, 1), np.float32)], 1)

    def setup(self) -> None:
        if self._train is not None:
            return
        shapes = self.shapes()
        train = shapes.subset("train")
        if self.limit_train:
            keep = np.arange(min(int(self.limit_train), len(train)))
            train = shape_data.ShapeSet(train.points[keep], train.normals[keep],
                                        train.labels[keep], [train.names[k] for k in keep],
                                        train.classes, train.part[keep])
        y = self.y_rows() if self.conditional else None
        self._train = _PointDataset(train, self.num_points, y, random_subset=True)
        self._val = _PointDataset(shapes.subset("valid"), self.num_points, y, random_subset=False)

    def poses(self) -> PosePrior:
        """The pose bank of the training shapes (built on first use)."""
        if self._poses is None:
            try:
                train = self.shapes().subset("train")
            except InputError as exc:
                raise InputError(f"the pose prior needs the model's training shapes: {exc} "
                                 "(pose=false samples without it)") from None
            self._poses = PosePrior.from_shapes(train.points, train.labels)
        return self._poses

    def pose(self, sample: PointCloudSample, generator: torch.Generator) -> None:
        """Give ``sample`` a training shape's pose (in place; off: unchanged)."""
        if not self.pose_prior or not np.isfinite(sample.points).all():
            return  # a non-finite shape has no frame; the check rejects it
        label = None if sample.label is None else self.class_names().index(sample.label)
        sample.points = self.poses().pose(sample.points, generator, label)

    def reference_points(self, split: str = "valid", num_points: int | None = None,
                         seed: int = 0) -> np.ndarray:
        """``[S, P, 3]`` held-out shapes (fixed point subsets, centred)."""
        part = self.shapes().subset(split)
        ds = _PointDataset(part, num_points or self.num_points, None, False, seed)
        return np.stack([ds[k].pos.numpy() for k in range(len(ds))])

    def batch_to(self, batch: Batch) -> tuple[Tensor, Batch, GraphSpace]:
        return batch.pos, batch, GraphSpace(batch.batch, batch.num_graphs)

    def drop_condition(self, cond: Any, generator: torch.Generator | None = None) -> Any:
        """Replace each shape's ``y`` by the null row with probability ``cond_dropout``."""
        if not self.conditional or self.cond_dropout <= 0 or getattr(cond, "y", None) is None:
            return cond
        keep = torch.rand((cond.y.shape[0], 1), generator=generator, device=cond.y.device)
        out = cond.clone()
        out.y = cond.y * (keep >= self.cond_dropout).to(cond.y.dtype)
        return out

    def null_cond(self, cond: Any) -> Any:
        """``cond`` with every ``y`` row set to the null condition (zeros)."""
        if not self.conditional or getattr(cond, "y", None) is None:
            return cond
        out = cond.clone()
        out.y = torch.zeros_like(cond.y)
        return out

    def build_net(self, model_cfg: Any) -> torch.nn.Module:
        """The network of ``model_cfg``; a kNN network's ``k`` is checked against
        :attr:`num_points` (a training run with too few points stops before it starts) and
        kept for later changes of :attr:`num_points`."""
        k = model_knn_k(model_cfg)
        check_num_points(self.num_points, k)
        self.knn_k = k
        return super().build_net(model_cfg)

    def net_kwargs(self) -> dict[str, Any]:
        return {"in_features": 3,
                "graph_cond_features": len(self.class_names()) + 1 if self.conditional else 0}

    # ------------------------------------------------------------- sampling
    def parse_condition(self, condition: Any, n: int) -> list[str | None]:
        """The user's request -> one class name (or ``None``: unconditional) per sample.

        ``None``: unconditional; a class name: all of that class; a list: one per sample,
        cycled.
        """
        if condition is None:
            return [None] * n
        names = [condition] if isinstance(condition, str) else list(condition)
        if not names:
            raise UsageError("condition: give a class name or a list of class names")
        known = self.class_names()
        for c in names:
            if c is not None and c not in known:
                raise UsageError(f"unknown shape class {c!r} (known: {', '.join(known)})")
        if not self.conditional and any(c is not None for c in names):
            raise UsageError("this model is unconditional: leave condition unset")
        return [names[k % len(names)] for k in range(n)]

    def template(self, n: int, *, condition: Any = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> tuple[Tensor, Batch, GraphSpace]:
        labels = condition if isinstance(condition, list) and len(condition) == n \
            else self.parse_condition(condition, n)
        rows = self.y_rows() if self.conditional else None
        items = []
        for c in labels:
            item = Data(num_nodes=self.num_points)
            if rows is not None:
                y = np.zeros((1, rows.shape[1]), np.float32)  # null: all zeros
                if c is not None:
                    y[0] = rows[self.class_names().index(c)]
                item.y = torch.from_numpy(y)
            items.append(item)
        cond = Batch.from_data_list(items).to(device)
        cond.labels = list(labels)
        x = torch.zeros(n * self.num_points, 3, device=device)
        return x, cond, GraphSpace(cond.batch, n)

    def decode(self, x: Tensor, cond: Any, space: Any) -> list[PointCloudSample]:
        pts = x.detach().float().cpu().numpy()
        batch = cond.batch.cpu().numpy()
        labels = getattr(cond, "labels", None) or [None] * int(space.num_samples)
        return [PointCloudSample(pts[batch == k], labels[k]) for k in range(int(space.num_samples))]

    def check(self, sample: PointCloudSample, mesh: bool = True) -> str | None:
        """The domain check of one sample: ``None`` if it passes, else why not (finite
        points, and with ``mesh``: one watertight body enclosing a volume; the mesh is kept
        on the sample)."""
        if not np.isfinite(sample.points).all():
            return "non-finite points"
        if not mesh:
            return None
        try:
            sample.mesh = mesh_from_points(sample.points, pitch_factor=self.pitch_factor)
        except InputError as exc:
            return f"meshing failed ({exc})"
        if not sample.mesh.watertight:
            return "mesh not watertight"
        if sample.mesh.bodies != 1:
            return "mesh not a single body"
        if sample.mesh.degenerate:
            return "mesh of (near-)zero volume"
        return None

    def generate(self, draw: Draw, num_samples: int, *, condition: Any = None, seed: int = 0,
                 batch_size: int = 64, device: torch.device | str = "cpu",
                 progress: Progress | None = None, max_rounds: int | None = None,
                 mesh: bool | None = None, **options: Any) -> GeneratedShapes:
        """Sample ``num_samples`` shapes, mesh and check each, resample failures for up to
        ``max_rounds`` rounds, then drop and count the rest. Sample ``k`` of round ``r``
        depends only on ``(seed, r)`` and its chunk, not on the other checks."""
        if options:
            raise UsageError(f"pointclouds generation options are max_rounds and mesh "
                             f"(got {', '.join(sorted(options))})")
        rounds = self.max_rounds if max_rounds is None else int(max_rounds)
        if rounds < 1:
            raise UsageError(f"max_rounds must be >= 1, got {rounds}")
        mesh = self.mesh if mesh is None else bool(mesh)
        labels = self.parse_condition(condition, num_samples)
        out = GeneratedShapes(requested=num_samples)
        todo = list(range(num_samples))
        done: dict[int, PointCloudSample] = {}
        for r in range(1, rounds + 1):
            if not todo:
                break
            if r > 1 and progress is not None:
                progress(0, stage=f"sampling round {r} ({len(todo)} shapes)")
            gen = torch.Generator(device=device).manual_seed(int(seed) * 1000 + r)
            still: list[int] = []
            for start in range(0, len(todo), batch_size):
                idx = todo[start:start + batch_size]
                x, cond, space = self.template(len(idx), condition=[labels[i] for i in idx],
                                               generator=gen, device=device)
                for i, s in zip(idx, self.decode(draw(x, cond, space, gen), cond, space),
                                strict=True):
                    self.pose(s, gen)
                    why = self.check(s, mesh)
                    if why is None:
                        s.rounds = r
                        done[i] = s
                        if progress is not None:
                            progress(1)
                    else:
                        out.failures[why] = out.failures.get(why, 0) + 1
                        still.append(i)
            out.resampled += len(still) if r < rounds else 0
            todo = still
        out.dropped = len(todo)
        out.extend(done[i] for i in sorted(done))
        if not out:
            raise InputError(f"no shape passed the check in {rounds} rounds "
                             f"({', '.join(f'{k}: {v}' for k, v in out.failures.items())})")
        return out

    # ---------------------------------------------------- metrics and export
    def metrics(self, samples: Sequence[PointCloudSample]) -> dict[str, float]:
        from molediff.domains.pointclouds.export import asset_metrics

        return asset_metrics(samples)

    def reference_metrics(self, model: Generator, *, num_references: int,
                          seed: int = 0) -> dict[str, float]:
        """1-NNA / COV / MMD (Chamfer) and JSD of unconditional samples against
        ``num_references`` validation shapes (tuning happens on validation, never test)."""
        from molediff.domains.pointclouds.metrics import compare_sets

        ref = self.reference_points("valid", seed=seed)[:num_references]
        gen = model.generate(len(ref), seed=seed, mesh=False)
        pts = np.stack([s.points for s in gen])
        return compare_sets(torch.from_numpy(pts), torch.from_numpy(ref), emd=False)

    def export(self, samples: Sequence[PointCloudSample], out_dir: str | Path,
               formats: Sequence[str] = ("ply", "obj", "glb", "stl")) -> list[Path]:
        from molediff.domains.pointclouds.export import export_shapes

        return export_shapes(samples, out_dir, formats=formats)
