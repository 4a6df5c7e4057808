"""C number conversions as glibc does them (C locale, LP64): dfu-util parses its arguments
with strtol/strtoul/atoi, and the exact end index and overflow behaviour show in its output."""
from __future__ import annotations

_C_SPACE = " \t\n\v\f\r"
_ULONG_MAX = (1 << 64) - 1
_LONG_MAX = (1 << 63) - 1
_LONG_MIN = -(1 << 63)


def _digit(ch: str) -> int:
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "a" <= ch <= "z":
        return ord(ch) - 87
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    return 99


def _scan(text: str, base: int) -> tuple[bool, int, int]:
    """glibc ____strtol_l_internal's scan: (negative, magnitude, end index). end 0 = no digits."""
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    negative = False
    if i < len(text) and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    if base == 0:
        if text[i:i + 1] == "0":
            if text[i + 1:i + 2] in ("x", "X"):
                i += 2
                base = 16
            else:
                base = 8
        else:
            base = 10
    elif base == 16 and text[i:i + 1] == "0" and text[i + 1:i + 2] in ("x", "X"):
        i += 2
    start = i
    value = 0
    while i < len(text) and _digit(text[i]) < base:
        value = value * base + _digit(text[i])
        i += 1
    if i == start:
        # "0x" with no hex digit: the "0" was the number, the end points at the "x"
        if start >= 2 and text[start - 1] in "xX" and text[start - 2] == "0":
            return False, 0, start - 1
        return False, 0, 0
    return negative, value, i


def to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def c_strtoul(text: str, base: int) -> tuple[int, int]:
    """strtoul: (unsigned long value, end index)."""
    negative, magnitude, end = _scan(text, base)
    if magnitude > _ULONG_MAX:
        return _ULONG_MAX, end
    return ((-magnitude) & _ULONG_MAX if negative else magnitude), end


def c_strtol(text: str, base: int) -> tuple[int, int, bool]:
    """strtol: (long value, end index, out of range)."""
    negative, magnitude, end = _scan(text, base)
    value = -magnitude if negative else magnitude
    if value > _LONG_MAX:
        return _LONG_MAX, end, True
    if value < _LONG_MIN:
        return _LONG_MIN, end, True
    return value, end, False


def c_atoi(text: str) -> int:
    return to_int32(c_strtol(text, 10)[0])
