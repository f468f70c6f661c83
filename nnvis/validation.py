"""Checks of values that come from people (flags, form fields, links): each returns the value
in its proper type or raises NNVisError naming the parameter, the bad value and what is
allowed. And the one parser of index lists like "3-7,12" (observations, epochs)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from nnvis.errors import NNVisError


def one_of(value: Any, allowed: Iterable[Any], what: str) -> Any:
    """`value` when it is one of `allowed`; else NNVisError "unknown {what} 'value'; allowed: a, b"."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise NNVisError(f"unknown {what} '{value}'; allowed: {', '.join(map(str, allowed))}")
    return value


def _allowed(low: float | None, high: float | None, noun: str) -> str:
    if low is not None and high is not None:
        return f"allowed: {low}..{high}"
    if low is not None:
        return f"allowed: {noun} >= {low}"
    if high is not None:
        return f"allowed: {noun} <= {high}"
    return f"allowed: {noun}"


def _check(value: Any, what: str, low, high, allowed: str, problem: str = "is out of range") -> None:
    finite = isinstance(value, numbers.Integral) or math.isfinite(value)
    if not finite or (low is not None and value < low) or (high is not None and value > high):
        raise NNVisError(f"{what} {value} {problem}; {allowed}")


def whole_number(value: Any, what: str, low: int | None = None, high: int | None = None, *,
                 detail: str | None = None, problem: str = "is out of range") -> int:
    """`value` as an int in low..high (either bound may be left open). NNVisError otherwise:
    "{what} {value} is out of range; allowed: low..high" (`detail` replaces the "allowed" part,
    `problem` the "is out of range"), or "... is not a whole number" for anything but an integer
    (a bool, a float or a text included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NNVisError(f"{what} {value!r} is not a whole number; {detail or _allowed(low, high, 'a whole number')}")
    _check(value, what, low, high, detail or _allowed(low, high, "a whole number"), problem)
    return int(value)


def number(value: Any, what: str, low: float | None = None, high: float | None = None, *,
           detail: str | None = None) -> float:
    """`value` as a finite float in low..high (either bound may be left open); NNVisError
    otherwise, shaped like `whole_number`'s ("... is not a number" for a bool or a text)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NNVisError(f"{what} {value!r} is not a number; {detail or _allowed(low, high, 'a number')}")
    _check(value, what, low, high, detail or _allowed(low, high, "a number"))
    return float(value)


def parse_ranges(text: str | None, what: str, *, size: int | None = None, strict: bool = True) -> list[int]:
    """Whole numbers listed as "3-7,12" (spaces ignored), in the order given without repeats.

    `strict` (the CLI, a typed field): NNVisError for a part that is not a number or a range
    "a-b" with a <= b, for an index >= `size` when given, and for an empty list. Not strict (a
    link's query value): such parts are skipped, ranges are cut at `size` - 1 and indices >=
    `size` left out, so a link never fails and never spells out a huge range."""
    allowed = "allowed: whole numbers separated by commas, ranges like 3-7, e.g. 3-7,12"
    found: dict[int, None] = {}
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        valid = first.isdigit() and (last.isdigit() if dash else True) and int(last or first) >= int(first)
        if not valid:
            if strict:
                raise NNVisError(f"{what} '{text}': '{part}' is not a number or a range a-b with a <= b; {allowed}")
            continue
        start, stop = int(first), int(last or first)
        if size is not None and stop >= size:
            if strict:
                raise NNVisError(f"{what} '{text}': {stop} is out of range; allowed: 0..{size - 1}")
            stop = size - 1
        found.update(dict.fromkeys(range(start, stop + 1)))
    if strict and not found:
        raise NNVisError(f"{what} lists nothing; {allowed}")
    return list(found)
