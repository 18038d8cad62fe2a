"""scripts/compare_conformer_samplers.py: the sampler spec parser."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_conformer_samplers.py"


def _module():
    spec = importlib.util.spec_from_file_location("compare_conformer_samplers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parse_spec():
    parse = _module().parse_spec
    assert parse("heun:18:s_churn=40:s_tmax=10.5") == ("heun", 18, {"s_churn": 40, "s_tmax": 10.5})
    assert parse("restart:12:restarts=2") == ("restart", 12, {"restarts": 2})
    assert parse("euler") == ("euler", 18, {})
    with pytest.raises(ValueError, match="not key=value"):
        parse("heun:18:churn")
