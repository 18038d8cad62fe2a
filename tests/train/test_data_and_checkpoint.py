"""Batch order, atomic checkpoint files, safe loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from molediff.inference.checkpoint import FORMAT_VERSION, load_checkpoint, seal
from molediff.train.data import StepBatchSampler
from molediff.utils.errors import CheckpointError
from molediff.utils.io import atomic_write_bytes
from molediff.utils.torchfile import load_file, save_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


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
    with pytest.raises(CheckpointError, match="not a safe molediff checkpoint"):
        load_file(path)


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.ckpt")
    good = save_file({"state_dict": {"w": torch.ones(3)}, "molediff": {"format": 1, "domain": "digits",
                                                                        "config_yaml": "a: 1"}},
                     tmp_path / "good.ckpt")
    loaded = load_checkpoint(good, expect_domain="digits")
    assert loaded["state_dict"]["w"].sum() == 3
    assert loaded["molediff"]["format"] == FORMAT_VERSION  # format 1 is migrated on load
    with pytest.raises(CheckpointError, match="trained on domain 'digits', not 'molecules'"):
        load_checkpoint(good, expect_domain="molecules")
    bad = Path(tmp_path / "trunc.ckpt")
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged, truncated"):
        load_checkpoint(bad)
    plain = save_file({"weights": torch.ones(2)}, tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match="not a molediff checkpoint"):
        load_checkpoint(plain)


def test_weights_hash_refuses_edited_weights(tmp_path):
    ckpt = seal({"state_dict": {"w": torch.ones(3)},
                 "molediff": {"domain": "digits", "config_yaml": "a: 1"}})
    assert ckpt["molediff"]["format"] == FORMAT_VERSION and ckpt["molediff"]["weights_sha256"]
    good = save_file(ckpt, tmp_path / "good.ckpt")
    assert load_checkpoint(good)["state_dict"]["w"].sum() == 3
    ckpt["state_dict"]["w"][0] = 2.0  # edited after sealing: the stored hash no longer fits
    bad = save_file(ckpt, tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(bad)
    assert load_checkpoint(save_file(seal(ckpt), tmp_path / "resealed.ckpt"))["state_dict"]["w"].sum() == 4
    del ckpt["molediff"]["weights_sha256"]
    with pytest.raises(CheckpointError, match="no weights hash"):
        load_checkpoint(save_file(ckpt, tmp_path / "nohash.ckpt"))


@pytest.mark.parametrize("name", ["digits_format1.pt", "digits_format1_train.ckpt"])
def test_format1_fixtures_load_with_registry_targets(name):
    from molediff.inference.checkpoint import checkpoint_config

    ckpt = load_checkpoint(FIXTURES / name, expect_domain="digits")
    meta = ckpt["molediff"]
    assert meta["format"] == FORMAT_VERSION and meta["migrated_from"] == 1
    assert "_name_: model.digits_mlp" in meta["config_yaml"]
    assert "molediff.train.sampling" not in meta["config_yaml"]
    cfg = checkpoint_config(ckpt)
    assert cfg.model._target_ == "molediff.domains.digits.model.DigitsMLP"
    assert cfg.sampler._target_ == "molediff.core.samplers.SamplerSpec"
    # and the migrated file samples
    from molediff.inference import load_model

    model = load_model(FIXTURES / name, steps=2)
    samples = model.generate(4, seed=0)
    assert samples["images"].shape[0] == 4 and torch.isfinite(samples["images"]).all()
    assert model.trained_steps == 4 and model.stats["nfe"] > 0
