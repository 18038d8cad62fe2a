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
