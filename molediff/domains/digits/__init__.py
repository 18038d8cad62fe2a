"""8×8 handwritten digits (scikit-learn): the fast, real, dense-image domain."""

from molediff.domains.digits.domain import DigitsDomain
from molediff.domains.digits.model import DigitsMLP

__all__ = ["DigitsDomain", "DigitsMLP"]
