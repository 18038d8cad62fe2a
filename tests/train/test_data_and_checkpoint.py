"""Batch order, atomic checkpoint files, safe loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from molediff.train.checkpoint import load_checkpoint, load_file, save_file
from molediff.train.data import StepBatchSampler
from molediff.utils.errors import CheckpointError
from molediff.utils.io import atomic_write_bytes


def _take(sampler: StepBatchSampler, n: int) -> list[list[int]]:
    out = []
    while len(out) < n:
        out += list(sampler)
    return out[:n]


def test_batch_sampler_resumes_mid_epoch_exactly():
    full = _take(StepBatchSampler(50, 8, seed=3), 20)  # 6 batches / epoch: crosses 3 epochs
    resumed = StepBatchSampler(50, 8, seed=3)
    resumed.set_position(9)
    assert _take(resumed, 11) == full[9:]
    assert full[0] != full[6]  # epochs are reshuffled
    assert sorted(i for b in full[:6] for i in b) == sorted(set(i for b in full[:6] for i in b))


def test_batch_sampler_shards_global_batches_across_ranks():
    one = _take(StepBatchSampler(40, 8, seed=0, world_size=1), 2)
    r0 = _take(StepBatchSampler(40, 4, seed=0, rank=0, world_size=2), 2)
    r1 = _take(StepBatchSampler(40, 4, seed=0, rank=1, world_size=2), 2)
    for b in range(2):
        assert r0[b] + r1[b] == one[b] and not set(r0[b]) & set(r1[b])


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing the temp file and the rename

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_loading_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="corrupted or not a safe"):
        load_file(path)


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.ckpt")
    good = save_file({"state_dict": {"w": torch.ones(3)}, "molediff": {"format": 1, "domain": "digits",
                                                                        "config_yaml": "a: 1"}},
                     tmp_path / "good.ckpt")
    assert load_checkpoint(good, expect_domain="digits")["state_dict"]["w"].sum() == 3
    with pytest.raises(CheckpointError, match="trained on domain 'digits', not 'molecules'"):
        load_checkpoint(good, expect_domain="molecules")
    bad = Path(tmp_path / "trunc.ckpt")
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(bad)
    plain = save_file({"weights": torch.ones(2)}, tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match="not a molediff training checkpoint"):
        load_checkpoint(plain)
