"""The channel bandwidth ratio (CBR): channel uses per source dimension n = H·W·3 (docs/design.md §1).

How a CBR is read (``"1/24"``, ``0.125``), written (``1/24``, as the tables and figures show it) and turned
into channel uses per image; shared by the config schema, the command line and the tables.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["MAX_CBR", "cbr_label", "cbr_to_k", "cbr_value"]

#: the largest CBR a grid may ask for (four channel uses per source dimension)
MAX_CBR = 4.0


def cbr_value(value: Any) -> float:
    """A CBR given as a number (``0.125``) or a fraction string (``"1/8"``) → float in (0, MAX_CBR].

    A ValueError says what is wrong (without the word CBR, so that a caller can name the key or flag).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number or a fraction like '1/24', got {value!r}")
    if isinstance(value, str):
        try:
            value = float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"must be a number or a fraction like '1/24', got {value!r}") from None
    value = float(value)
    if not 0.0 < value <= MAX_CBR:
        raise ValueError(f"must be in (0, {MAX_CBR:g}], got {value:g}")
    return value


def cbr_label(cbr: float) -> str:
    """'1/24' for 0.041666…, '3/10' for 0.3, '0.0123' for 0.0123: the nearest fraction of denominator ≤ 96
    when it is exact to 1e-9, else the number."""
    frac = Fraction(cbr).limit_denominator(96)
    if abs(float(frac) - cbr) < 1e-9:
        return f"{frac.numerator}/{frac.denominator}" if frac.denominator != 1 else f"{frac.numerator}"
    return f"{cbr:g}"


def cbr_to_k(cbr: float, source_dim: int) -> int:
    """Channel uses (data REs) per image at ``cbr`` for images of ``source_dim`` values: round(CBR · n)."""
    return int(round(float(cbr) * int(source_dim)))
