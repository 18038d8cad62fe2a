from __future__ import annotations

import pytest

from molediff.cli.testing import quick_train_config
from molediff.train.run import train


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory):
    """A digits checkpoint from a 20-step in-process training run."""
    out = tmp_path_factory.mktemp("trained")
    train(quick_train_config(out, "trainer.max_steps=20"))
    return out / "checkpoints" / "last.ckpt"
