"""The checkpoint format: registry names instead of module paths, a weights hash checked
at load, migrations from every older format."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT
from molediff.inference import load_model
from molediff.inference.checkpoint import (
    FORMAT_VERSION,
    META_KEY,
    MIGRATIONS,
    checkpoint_config,
    config_from_yaml,
    config_to_yaml,
    load_checkpoint,
    write_checkpoint,
)
from molediff.utils import registry
from molediff.utils.errors import CheckpointError
from molediff.utils.torchfile import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
# diffusion checkpoints; the metric classifiers shipped beside them (``*classifier*.pt``)
# are plain weights files, tested by their domains
SHIPPED = sorted(p for p in (ROOT / "molediff" / "checkpoints").glob("*.pt")
                 if "classifier" not in p.name)
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoints_are_current_and_name_no_module(path):
    raw = load_file(path)
    meta = raw[META_KEY]
    assert meta["format"] == FORMAT_VERSION and len(meta["weights_sha256"]) == 64
    # every molediff component is stored by registry name, so moving a class breaks nothing
    assert "_target_: molediff." not in meta["config_yaml"]
    assert "_name_: domain." in meta["config_yaml"] and "_name_: model." in meta["config_yaml"]
    model = load_model(path)
    assert model.domain.name == meta["domain"] and model.trained_steps > 0


def _tensor_offsets(path) -> tuple[int, int]:
    """Byte range of the largest tensor's data inside the checkpoint zip."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as f:  # local header: 30 bytes + name + extra, then the data
        f.seek(info.header_offset + 26)
        n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    start = info.header_offset + 30 + n + m
    return start, start + info.file_size


def test_flipped_bytes_in_the_weights_are_refused(tmp_path, capsys):
    bad = tmp_path / "damaged.pt"
    shutil.copy(BUNDLED_CHECKPOINT, bad)
    start, end = _tensor_offsets(bad)
    data = bytearray(bad.read_bytes())
    for k in range(start + 100, min(start + 500, end)):
        data[k] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert torch.load(bad, weights_only=True)  # torch itself reads it without complaint
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(bad)
    from molediff.cli.main import main

    out = tmp_path / "x.sdf"
    assert main(["conformers", "CCO", "-n", "1", "--checkpoint", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged" in err and not out.exists()


def test_format_1_files_written_before_the_change_still_load():
    """Both kinds of format-1 files (a training checkpoint and an exported one, written by
    the previous code: module paths, no hash) load, migrate and sample."""
    for name in ("digits_format1_train.ckpt", "digits_format1.pt"):
        path = FIXTURES / name
        assert load_file(path)[META_KEY]["format"] == 1
        ckpt = load_checkpoint(path)
        assert ckpt[META_KEY]["format"] == FORMAT_VERSION and ckpt[META_KEY]["migrated_from"] == 1
        cfg = checkpoint_config(ckpt)
        assert cfg.sampler._target_ == "molediff.core.samplers.SamplerSpec"  # moved class
        assert cfg.domain._target_ == "molediff.domains.digits.domain.DigitsDomain"
        model = load_model(path, steps=3)
        samples = model.generate(4, seed=0)
        assert samples["images"].shape == (4, 1, 8, 8)
        assert torch.isfinite(samples["images"]).all() and model.stats["nfe"] == 5  # Heun, 3 steps
    assert 1 in MIGRATIONS


def test_rewritten_format_1_file_verifies_and_keeps_its_weights(tmp_path):
    old = load_checkpoint(FIXTURES / "digits_format1.pt")
    new = write_checkpoint(load_checkpoint(FIXTURES / "digits_format1.pt"), tmp_path / "v2.pt")
    again = load_checkpoint(new)
    assert "migrated_from" not in again[META_KEY] or again[META_KEY]["format"] == FORMAT_VERSION
    for k, v in old["state_dict"].items():
        assert torch.equal(v, again["state_dict"][k])


def test_a_moved_class_only_needs_a_new_registry_entry(tmp_path, monkeypatch):
    cfg = OmegaConf.create({"model": {"_target_": "molediff.nn.egnn.EGNN", "hidden": 8},
                            "optim": {"_target_": "torch.optim.AdamW", "lr": 0.1}})
    text = config_to_yaml(cfg)
    assert "_name_: model.egnn" in text and "torch.optim.AdamW" in text  # foreign: kept as is
    monkeypatch.setitem(registry._runtime, "model.egnn", "somewhere.new.EGNN")
    assert config_from_yaml(text).model._target_ == "somewhere.new.EGNN"
    with pytest.raises(CheckpointError, match="unknown component 'model.nope'"):
        config_from_yaml("model:\n  _name_: model.nope\n")


def test_unreadable_and_foreign_files_give_one_clear_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("e" * 300)
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    foreign = tmp_path / "foreign.pt"
    save_file({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a molediff checkpoint"):
        load_checkpoint(foreign)
    future = load_file(BUNDLED_CHECKPOINT)
    future[META_KEY]["format"] = FORMAT_VERSION + 1
    save_file(future, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="upgrade molediff"):
        load_checkpoint(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="not 'digits'"):
        load_checkpoint(BUNDLED_CHECKPOINT, expect_domain="digits")


def test_unsafe_pickle_message_keeps_its_warning(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "execute code" in str(info.value) and "\n" not in str(info.value)
