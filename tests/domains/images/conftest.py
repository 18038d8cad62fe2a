from __future__ import annotations

import pytest

from molediff.domains.images import ImagesDomain


@pytest.fixture(scope="session")
def mnist() -> ImagesDomain:
    d = ImagesDomain(dataset="mnist")
    d.setup()
    return d
