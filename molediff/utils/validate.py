"""Small validators for option values, each raising :class:`UsageError` naming the option.

They take either the text of a command-line value or an already-parsed number (a config
value), so the same check serves ``--steps 0`` and ``steps: 0``. ``float()`` happily
parses ``"nan"`` and ``"inf"`` (and ``"1e999"`` as inf); a sampler run with
``s_noise=nan`` then fills every sample with NaN without any error, so finiteness is
checked explicitly. Booleans are refused as numbers: ``True`` is an ``int`` in Python,
but ``steps: true`` in a config is a mistake, not 1.
"""

from __future__ import annotations

import math
import numbers

from molediff.utils.errors import UsageError


def _shown(value: object) -> str:
    return repr(value.strip()) if isinstance(value, str) else repr(value)


def finite_float(value: object, name: str) -> float:
    """``value`` as a finite float.

    Raises:
        UsageError: ``"<name> must be a finite number, got <value>"`` for text that is not
            a number, NaN, infinities, booleans and non-numbers.
    """
    if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
        raise UsageError(f"{name} must be a finite number, got {_shown(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise UsageError(f"{name} must be a finite number, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise UsageError(f"{name} must be a finite number, got {_shown(value)}")
    return number


def non_negative_float(value: object, name: str) -> float:
    """``value`` as a finite float >= 0.

    Raises:
        UsageError: as :func:`finite_float`, or ``"<name> must be >= 0, got <value>"``.
    """
    number = finite_float(value, name)
    if number < 0:
        raise UsageError(f"{name} must be >= 0, got {_shown(value)}")
    return number + 0.0  # -0.0 -> 0.0, so "-0" does not print as a negative value later


def positive_int(value: object, name: str) -> int:
    """``value`` as an int >= 1.

    Accepts ints, integral floats (``4.0`` from a YAML/JSON config) and decimal integer
    text (``"4"``, ``" 4 "``); refuses ``"4.5"``, ``"1e3"``, booleans and everything else.

    Raises:
        UsageError: ``"<name> must be a positive integer, got <value>"``.
    """
    problem = UsageError(f"{name} must be a positive integer, got {_shown(value)}")
    if isinstance(value, bool):
        raise problem
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise problem
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise problem from None
    else:
        raise problem
    if number < 1:
        raise problem
    return number
