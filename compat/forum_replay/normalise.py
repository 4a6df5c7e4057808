"""Normalisation applied to BOTH the transcript's lines and our tools' output before comparing.

Forum software, consoles and posters change text in ways that say nothing about the tool.
Each rule below undoes one such change; docs/forum-replay.md lists them with the transcripts
that need them. Rules run in the order of ``RULES``; ``lines()`` also splits carriage-return
repaints and drops blank lines.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

DEVICE_ID = "<ID>"

# Poster redactions of a device id, and real 24-hex ids (ours differ from the poster's).
_ID_PATTERNS = (
    re.compile(r"\b[0-9a-fA-F]{24}\b"),
    re.compile(r"\b[0-9a-fA-F]\*{4,}[0-9a-fA-F]\b"),          # 5**************3
    re.compile(r"XXXYYYZZZDeviceID|\bDEVICE_ID\b|\{name\}|\bxxxx:xxxx\b|<DEVICE-ID>|<ID>"),
)
# Absolute directories (POSIX home/tmp style or a Windows drive); the file name is kept.
_ABS_DIR = re.compile(r"(?:[A-Za-z]:\\|(?<![\w.\-])/(?=[A-Za-z]))(?:[\w.@~+\-]+[\\/])+")


def _ellipsis(s: str) -> str:
    return s.replace("\u2026", "...")


def _quotes(s: str) -> str:
    return (s.replace("\u201c", '"').replace("\u201d", '"')
            .replace("\u2018", "'").replace("\u2019", "'"))


def _device_ids(s: str) -> str:
    for pattern in _ID_PATTERNS:
        s = pattern.sub(DEVICE_ID, s)
    return s


def _markdown(s: str) -> str:
    s = s.replace("*", "")                     # **bold**, and asterisks Markdown ate in pairs
    s = re.sub(r"^\s*>\s?", "", s)             # "> " quote prefix (particle-cli prints it too)
    s = re.sub(r"^_(?=[A-Za-z])", "", s)       # "_dfu-util: ..." emphasis residue
    return s


def _program_prefix(s: str) -> str:
    return s.replace("dfu-util: ", "").replace("dfu-util:", "") if "dfu-util:" in s else s


def _bus_topology(s: str) -> str:
    s = re.sub(r"devnum=\d+", "devnum=N", s)
    return re.sub(r'path="[^"]*"', 'path="P"', s)


def _paths(s: str) -> str:
    return _ABS_DIR.sub("", s)


def _bug_address(s: str) -> str:
    # Forum renderers stripped the e-mail address; particle-py names itself there instead.
    return "Please report bugs to" if s.lstrip().startswith("Please report bugs to") else s


def _whitespace(s: str) -> str:
    return " ".join(s.split())


RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("ellipsis", _ellipsis),
    ("quotes", _quotes),
    ("device-ids", _device_ids),
    ("markdown", _markdown),
    ("program-prefix", _program_prefix),
    ("bus-topology", _bus_topology),
    ("paths", _paths),
    ("bug-address", _bug_address),
    ("whitespace", _whitespace),
)


def line(text: str) -> str:
    """One line through every rule."""
    for _name, rule in RULES:
        text = rule(text)
    return text


def wrap(text: str, width: int) -> str:
    """What a console of ``width`` columns shows: long lines broken into width-sized pieces."""
    out = []
    for raw in text.split("\n"):
        if not raw:
            out.append(raw)
            continue
        out.extend(raw[i:i + width] for i in range(0, len(raw), width))
    return "\n".join(out)


def lines(text: str, width: Optional[int] = None) -> list[str]:
    """Normalised, non-blank lines of ``text``. Every carriage return starts a new line (each
    progress repaint is a line: a terminal shows the last one, a Windows console copy all)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8)
    if width:       # our own bug-report line is longer than dfu-util's: shorten it before wrapping
        text = "\n".join(_bug_address(raw) for raw in text.split("\n"))
        text = wrap(text, width)
    result = []
    for raw in text.split("\n"):
        norm = line(raw)
        if norm:
            result.append(norm)
    return result
