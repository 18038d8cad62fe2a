"""resolve_device: --device values turned into torch devices or clear UsageErrors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from molediff.utils.device import VALID_DEVICES, resolve_device
from molediff.utils.errors import UsageError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend this machine has ``n`` GPUs (torch.device("cuda:1") itself needs none)."""

    def set_count(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return set_count


@pytest.mark.parametrize("name", ["cpu", " CPU ", "cpu:0", torch.device("cpu")])
def test_cpu(name):
    assert resolve_device(name) == torch.device("cpu")


@pytest.mark.parametrize("name", [None, "auto", "AUTO"])
def test_auto_without_gpu(fake_gpus, name):
    fake_gpus(0)
    assert resolve_device(name) == torch.device("cpu")


def test_auto_with_gpu(fake_gpus):
    fake_gpus(2)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["foo", "gpu", "cuda:x", "cuda:-1", "cuda0", "", "meta"])
def test_unknown_device_lists_valid_forms(name):
    with pytest.raises(UsageError) as info:
        resolve_device(name)
    assert str(info.value) == f"unknown device {name!r}; use {VALID_DEVICES}"
    assert info.value.exit_code == 2


@no_cuda
def test_cuda_on_this_cpu_only_machine():
    with pytest.raises(UsageError) as info:
        resolve_device("cuda")
    message = str(info.value)
    assert f"torch {torch.__version__}" in message and message.endswith("use --device cpu")
    if torch.version.cuda is None:
        assert message == (f"CUDA requested but this torch build has no CUDA "
                           f"(torch {torch.__version__}); use --device cpu")
    else:
        assert "no GPU is visible" in message


def test_cuda_build_without_gpu(fake_gpus, monkeypatch):
    fake_gpus(0)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(UsageError, match=r"no GPU is visible .*CUDA 12\.4.*CUDA_VISIBLE_DEVICES"):
        resolve_device("cuda:0")


def test_cpu_only_build_message(fake_gpus, monkeypatch):
    fake_gpus(0)
    monkeypatch.setattr(torch.version, "cuda", None)
    expected = r"this torch build has no CUDA \(torch .+\); use --device cpu"
    with pytest.raises(UsageError, match=expected):
        resolve_device("cuda")


def test_cuda_index_within_range(fake_gpus):
    fake_gpus(2)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)


def test_cuda_index_beyond_gpus(fake_gpus):
    fake_gpus(2)
    with pytest.raises(UsageError) as info:
        resolve_device("cuda:3")
    assert str(info.value) == ("device 'cuda:3' requested but only 2 GPUs visible; "
                               "use cuda:0 to cuda:1")
    fake_gpus(1)
    with pytest.raises(UsageError, match=r"only 1 GPU visible; use cuda:0$"):
        resolve_device("cuda:1")


def test_mps_not_available(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UsageError, match=r"MPS requested but not available.*use --device cpu"):
        resolve_device("mps")


def test_mps_available(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    with pytest.raises(UsageError, match="only one device"):
        resolve_device("mps:1")


@needs_cuda
def test_real_gpu():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    torch.zeros(1, device=resolve_device("cuda"))  # really usable
    count = torch.cuda.device_count()
    with pytest.raises(UsageError, match=f"only {count} GPU"):
        resolve_device(f"cuda:{count}")


def test_importing_the_helpers_does_not_import_torch():
    code = ("import sys, molediff.utils.device, molediff.utils.entry, molediff.utils.validate; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
