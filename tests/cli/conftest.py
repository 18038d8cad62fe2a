from __future__ import annotations

import sys

import pytest

from molediff.cli.testing import quick_train_config
from molediff.train.run import train


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory):
    """A digits checkpoint from a 20-step in-process training run."""
    out = tmp_path_factory.mktemp("trained")
    train(quick_train_config(out, "trainer.max_steps=20"))
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``molediff <args>`` in-process; returns (exit code, stderr)."""
    from molediff.cli.main import main

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["molediff", *args])
        main_mod = sys.modules["__main__"]
        monkeypatch.setattr(main_mod, "__spec__", getattr(main_mod, "__spec__", None), raising=False)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, capsys.readouterr().err

    return run
