"""The one type check of the values a caller hands FrameForge: the tabs and the HTTP / MCP API (through
``demos.components``) and the command line (through its argument types) use the same rules and messages.

Every check returns the value as the handler needs it, or raises :class:`ValueError` whose message names the
parameter, what it must be and what it got.
"""
from __future__ import annotations

import math

#: Longest shown form of a refused value in a message (a 401-digit number is not echoed whole).
SHOWN = 40


def shown(value) -> str:
    """``repr(value)``, shortened for a message."""
    text = repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(text) > SHOWN:
        return f"a {len(text.lstrip('-'))}-digit integer"
    return text if len(text) <= SHOWN else text[:SHOWN - 3] + "..."


def number(value, name: str, minimum: float | None = None, maximum: float | None = None,
           integer: bool = False) -> float | int:
    """``value`` as a finite float (an int for ``integer``) within [minimum, maximum]. Booleans are not numbers
    (JSON ``true`` is not 1); text is parsed ("2.5"); NaN, infinities and integers too large for a float are
    refused."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a number, got {shown(value)}.")
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number, got {shown(value)}.") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {shown(value)}.") from None
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}.")
    lo, hi = minimum, maximum
    if (lo is not None and result < lo) or (hi is not None and result > hi):
        if lo is not None and hi is not None:
            raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {result:g}.")
        bound = f"at least {lo:g}" if lo is not None else f"at most {hi:g}"
        raise ValueError(f"{name} must be {bound}, got {result:g}.")
    if integer:
        if result != int(result):
            raise ValueError(f"{name} must be a whole number, got {result:g}.")
        return int(result)
    return result


def boolean(value, name: str) -> bool:
    """``value`` as a bool: only true / false (JSON booleans; 0 and 1 as their integer forms; null is false, as an
    unset checkbox). Text such as "false" or "no" is refused rather than taken as true, as ``bool("false")`` would."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be true or false (a JSON boolean), got {shown(value)}.")
