"""Option validators: accepted values, refused values, and messages naming the option."""

from __future__ import annotations

import pytest

from molediff.utils.errors import UsageError
from molediff.utils.validate import finite_float, non_negative_float, positive_int


@pytest.mark.parametrize(("value", "expected"), [("1.5", 1.5), (" -2 ", -2.0), (3, 3.0),
                                                 ("1e-3", 0.001), (0.25, 0.25)])
def test_finite_float_accepts(value, expected):
    assert finite_float(value, "s_noise") == expected


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", float("nan"),
                                   float("inf"), "abc", "", True, None, [1.0]])
def test_finite_float_refuses(value):
    with pytest.raises(UsageError, match=r"^s_noise must be a finite number, got ") as info:
        finite_float(value, "s_noise")
    assert info.value.exit_code == 2


def test_finite_float_message_shows_value():
    with pytest.raises(UsageError) as info:
        finite_float("nan", "s_noise")
    assert str(info.value) == "s_noise must be a finite number, got 'nan'"


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("-0", 0.0), (2, 2.0), ("0.5", 0.5)])
def test_non_negative_float_accepts(value, expected):
    result = non_negative_float(value, "--churn")
    assert result == expected and str(result) == str(expected)  # "-0" must not stay -0.0


def test_non_negative_float_refuses():
    with pytest.raises(UsageError) as info:
        non_negative_float("-0.1", "--churn")
    assert str(info.value) == "--churn must be >= 0, got '-0.1'"
    with pytest.raises(UsageError, match="--churn must be a finite number"):
        non_negative_float("inf", "--churn")


@pytest.mark.parametrize(("value", "expected"), [("4", 4), (" 12 ", 12), (1, 1), (8.0, 8)])
def test_positive_int_accepts(value, expected):
    result = positive_int(value, "--steps")
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", ["0", "-3", 0, "4.5", 4.5, "1e3", "four", "", True,
                                   float("nan"), float("inf"), None])
def test_positive_int_refuses(value):
    with pytest.raises(UsageError, match=r"^--steps must be a positive integer, got "):
        positive_int(value, "--steps")


def test_positive_int_message_shows_value():
    with pytest.raises(UsageError) as info:
        positive_int("0", "--steps")
    assert str(info.value) == "--steps must be a positive integer, got '0'"
