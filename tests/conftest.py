import sys

import pytest
import torch


@pytest.fixture
def float64():
    """Run a test with float64 as the default dtype (oracle tests need the precision)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small nets on a 2-core CPU run fastest (and steadiest) on one intra-op thread."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


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
