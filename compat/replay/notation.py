"""The transcript notation of compat/dfu-util/scenarios.md: parse it, rebuild every version's
full expected transcript, and turn transcripts into (stream, text) segments and back.

Notation (see the file's own header):
- ``## name`` starts a scenario; its description paragraph carries ``Device/env: `K=V ...` `` and
  ``Command: `dfu-util ...` ``.
- ``<version>:`` followed by a fenced block is a full transcript; ``<version>: identical to <base>
  (apart from the banner).`` reuses the base; ``<version>: differences from <base> ...:`` followed
  by a fenced block of zero-context unified-diff hunks (``@@ -a,b +c,d @@``) patches the base.
- Lines: ``O| `` stdout, ``E| `` stderr, ``M| `` a line that starts on stdout and ends on stderr,
  ``[exit status N]``. ``\\r`` and ``\\t`` stand for carriage return and tab.
- The 7-line banner appears only where it was recorded (the first scenario); diffs count lines
  without it. It is put back when building expected output (see ``needs_banner``).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Optional

STDOUT = "stdout"
STDERR = "stderr"


class NotationError(ValueError):
    """The file does not follow the notation; the message says where."""


# -- banners (reference/dfu-util.md 2.1): printed by every run that gets past option parsing --
_BANNER_TAIL = "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
_SF_BUGS = "Please report bugs to http://sourceforge.net/p/dfu-util/tickets/\n"
BANNERS = {
    "0.8": ("dfu-util 0.8\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
            "Copyright 2010-2014 Tormod Volden and Stefan Schmidt\n" + _BANNER_TAIL
            + "Please report bugs to dfu-util@lists.gnumonks.org\n\n"),
    "0.9": ("dfu-util 0.9\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
            "Copyright 2010-2016 Tormod Volden and Stefan Schmidt\n" + _BANNER_TAIL + _SF_BUGS + "\n"),
    "0.10": ("dfu-util 0.10\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
             "Copyright 2010-2020 Tormod Volden and Stefan Schmidt\n" + _BANNER_TAIL + _SF_BUGS + "\n"),
    "0.11": ("dfu-util 0.11\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
             "Copyright 2010-2021 Tormod Volden and Stefan Schmidt\n" + _BANNER_TAIL + _SF_BUGS + "\n"),
}
# what a recorded banner looks like, whatever the version (used to strip it from full blocks)
_BANNER_LINE_RES = [re.compile(p) for p in (
    r"dfu-util \S+", r"", r"Copyright 2005-\d{4} Weston Schmidt, Harald Welte and OpenMoko Inc\.",
    r"Copyright 2010-\d{4} Tormod Volden and Stefan Schmidt",
    r"This program is Free Software and has ABSOLUTELY NO WARRANTY", r"Please report bugs to .+", r"")]

# Messages dfu-util prints while still parsing its options, i.e. before the banner (main.c: the
# getopt loop, parse_number, -p in 0.8, the leftover check, help). A transcript whose first line is
# one of these has no banner; every other transcript starts with one.
PRE_BANNER_RES = [re.compile(p) for p in (
    r"E\| .*: invalid option -- '.+'$",
    r"E\| .*: option requires an argument -- '.+'$",
    r"E\| .*: unrecognized option '.*'$",
    r"E\| .*: option '.*' (requires an argument|doesn't allow an argument|is ambiguous.*)$",
    r"E\| dfu-util: Something went wrong with the argument of --",
    r"E\| dfu-util: No digits were found from the argument of --",
    r"E\| dfu-util: USB device paths are not supported by this dfu-util\.",
    r"E\| (dfu-util: )?This dfu-util was built without USB path support",
    r"E\| Error: Unexpected argument: ",
    r"E\| Usage: dfu-util \[options\] \.\.\.$",
)]

# One progress-bar repaint (dfu_file.c: "\r%s\t[%s] %3llu%% %12llu bytes").
REPAINT = r"\r[^\r\t\n]*\t\[[= ]{25}\] +\d+% +\d+ bytes"
_REPAINTS_PREFIX_RE = re.compile(f"(?:{REPAINT})+")
_FILLED_REPAINT_RE = re.compile(r"\r[^\r\t\n]*\t\[([= ]{25})\] +\d+% +\d+ bytes")


@dataclass(frozen=True)
class Line:
    kind: str   # 'O', 'E', 'M' or 'X' (exit status; text holds the number)
    text: str   # unescaped (real \r and \t)

    def render(self) -> str:
        if self.kind == "X":
            return f"[exit status {self.text}]"
        return f"{self.kind}| {escape(self.text)}"


@dataclass
class Scenario:
    name: str
    source: str                      # file path, for messages
    line_no: int
    description: str = ""
    env: dict = field(default_factory=dict)      # every K=V of Device/env, in order
    command: str = ""
    argv: list = field(default_factory=list)
    transcripts: dict = field(default_factory=dict)  # version -> list[Line], banner stripped
    recorded_banners: dict = field(default_factory=dict)  # version -> list[Line] when one was recorded
    error: Optional[str] = None      # set when the scenario itself is malformed

    @property
    def profiles(self) -> list:
        value = self.env.get("FAKE_PROFILES", "")
        return [p for p in value.split(",") if p]

    @property
    def knobs(self) -> dict:
        """Every FAKE_* setting except the profile list."""
        return {k: v for k, v in self.env.items() if k.startswith("FAKE_") and k != "FAKE_PROFILES"}

    @property
    def plain_env(self) -> dict:
        """Environment variables that are not simulator knobs (passed through to the run)."""
        return {k: v for k, v in self.env.items() if not k.startswith("FAKE_")}

    @property
    def versions(self) -> list:
        return list(self.transcripts)


# -- escapes ---------------------------------------------------------------------------
def unescape(text: str) -> str:
    return text.replace("\\r", "\r").replace("\\t", "\t")


def escape(text: str) -> str:
    return text.replace("\r", "\\r").replace("\t", "\\t")


# -- parsing ---------------------------------------------------------------------------
_VERSION_HEAD_RE = re.compile(r"^(\d+(?:\.\d+)+):\s*(.*)$")
_IDENTICAL_RE = re.compile(r"^identical to (\S+)(?: \(apart from the banner\))?\.?$")
_DIFF_HEAD_RE = re.compile(r"^differences from (\S+)\b.*:$")
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_EXIT_RE = re.compile(r"^\[exit status (-?\d+)\]$")


def parse_line(raw: str, where: str) -> Line:
    m = _EXIT_RE.match(raw)
    if m:
        return Line("X", m.group(1))
    if len(raw) >= 3 and raw[0] in "OEM" and raw[1:3] == "| ":
        return Line(raw[0], unescape(raw[3:]))
    if raw in ("O|", "E|", "M|"):  # an empty line whose trailing space got lost
        return Line(raw[0], "")
    raise NotationError(f"{where}: not a transcript line: {raw!r}")


def _strip_banner(lines: list) -> tuple[list, list]:
    head = lines[:len(_BANNER_LINE_RES)]
    if len(head) == len(_BANNER_LINE_RES) and all(
            line.kind == "O" and rx.fullmatch(line.text) for line, rx in zip(head, _BANNER_LINE_RES)):
        return head, lines[len(head):]
    return [], lines


def _fenced(lines: list, i: int, where: str) -> tuple[list, int]:
    """The raw lines of the fenced block starting at or after line i (blank lines skipped)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].startswith("```"):
        raise NotationError(f"{where}: expected a ``` block")
    start = i + 1
    end = start
    while end < len(lines) and not lines[end].startswith("```"):
        end += 1
    if end >= len(lines):
        raise NotationError(f"{where}: unterminated ``` block")
    return lines[start:end], end + 1


def apply_diff(base: list, diff_lines: list, where: str) -> list:
    """Apply zero-context unified hunks to ``base`` (a list of Line); check both sides' numbers."""
    hunks = []
    current = None
    for n, raw in enumerate(diff_lines):
        m = _HUNK_RE.match(raw)
        if m:
            a, b, c, d = m.groups()
            current = (int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d), [], [])
            hunks.append(current)
            continue
        if current is None:
            if not raw.strip() or raw.startswith(("--- ", "+++ ")):  # blank, or a diff tool's file header
                continue
            raise NotationError(f"{where}: diff text before the first @@ line: {raw!r}")
        if raw.startswith("-"):
            current[4].append(parse_line(raw[1:], where))
        elif raw.startswith("+"):
            current[5].append(parse_line(raw[1:], where))
        elif raw.startswith(" "):
            raise NotationError(f"{where}: context lines are not part of this notation: {raw!r}")
        elif raw.strip():
            raise NotationError(f"{where}: unexpected diff line {raw!r}")
    result = []
    pos = 0  # lines of base consumed
    for a, b, c, d, minus, plus in hunks:
        if len(minus) != b or len(plus) != d:
            raise NotationError(f"{where}: hunk @@ -{a},{b} +{c},{d} @@ has {len(minus)} '-' and "
                                f"{len(plus)} '+' lines")
        start = a - 1 if b else a  # with b == 0 the hunk inserts after line a
        if start < pos or start + b > len(base):
            raise NotationError(f"{where}: hunk @@ -{a},{b} @@ out of order or beyond the base transcript")
        result.extend(base[pos:start])
        if base[start:start + b] != minus:
            for want, have in zip(minus, base[start:start + b]):
                if want != have:
                    raise NotationError(f"{where}: hunk @@ -{a},{b} @@ removes {want.render()!r} but the base "
                                        f"has {have.render()!r}")
        new_start = c - 1 if d else c
        if new_start != len(result):
            raise NotationError(f"{where}: hunk @@ +{c},{d} @@ does not line up (new line {len(result) + 1})")
        result.extend(plus)
        pos = start + b
    result.extend(base[pos:])
    return result


def _parse_description(scenario: Scenario, text: str) -> None:
    scenario.description = text.strip()
    env_m = re.search(r"Device/env:\s*(.*?)(?:\.?\s*Command:|$)", text, re.S)
    if env_m:
        for span in re.findall(r"`([^`]*)`", env_m.group(1)):
            for word in shlex.split(span):
                key, eq, value = word.partition("=")
                if not eq:
                    raise NotationError(f"{scenario.source}:{scenario.line_no}: Device/env word {word!r} is "
                                        "not KEY=VALUE")
                scenario.env[key] = value
    cmd_m = re.search(r"Command:\s*`([^`]*)`", text)
    if not cmd_m:
        raise NotationError(f"{scenario.source}:{scenario.line_no}: no Command: `...` in the description")
    scenario.command = cmd_m.group(1)
    try:
        scenario.argv = shlex.split(scenario.command)
    except ValueError as exc:
        raise NotationError(f"{scenario.source}:{scenario.line_no}: cannot split the command: {exc}") from None
    if not scenario.argv:
        raise NotationError(f"{scenario.source}:{scenario.line_no}: empty command")


def _check_exit(lines: list, where: str) -> None:
    exits = [n for n, line in enumerate(lines) if line.kind == "X"]
    if exits != [len(lines) - 1]:
        raise NotationError(f"{where}: the transcript must end with exactly one [exit status N]")


def _parse_scenario(scenario: Scenario, body: list, first_line_no: int) -> None:
    where = f"{scenario.source}:{scenario.line_no} ({scenario.name})"
    description: list = []
    i = 0
    pending: list = []  # (version, kind, base, diff lines)
    while i < len(body):
        raw = body[i]
        m = _VERSION_HEAD_RE.match(raw)
        if not m:
            if raw.startswith("```"):
                raise NotationError(f"{where}: ``` block without a '<version>:' line before it")
            if not pending:
                description.append(raw)
            elif raw.strip():
                raise NotationError(f"{where}: unexpected text {raw!r}")
            i += 1
            continue
        version, rest = m.group(1), m.group(2).strip()
        vwhere = f"{where} [{version}]"
        if any(p[0] == version for p in pending):
            raise NotationError(f"{vwhere}: version given twice")
        if not rest:
            block, i = _fenced(body, i + 1, vwhere)
            pending.append((version, "full", None, [parse_line(r, vwhere) for r in block]))
        elif _IDENTICAL_RE.match(rest):
            pending.append((version, "same", _IDENTICAL_RE.match(rest).group(1), None))
            i += 1
        elif _DIFF_HEAD_RE.match(rest):
            block, i = _fenced(body, i + 1, vwhere)
            pending.append((version, "diff", _DIFF_HEAD_RE.match(rest).group(1), block))
        else:
            raise NotationError(f"{vwhere}: cannot read {raw!r}")
    _parse_description(scenario, "\n".join(description))
    if not pending:
        raise NotationError(f"{where}: no transcript")
    full: dict = {}
    for version, kind, _, lines in pending:
        if kind == "full":
            banner, stripped = _strip_banner(lines)
            if banner:
                scenario.recorded_banners[version] = banner
            full[version] = stripped
    for version, lines in full.items():
        _check_exit(lines, f"{where} [{version}]")
    for version, kind, base, data in pending:
        if kind == "full":
            continue
        if base not in full:
            raise NotationError(f"{where} [{version}]: base version {base} has no full transcript")
        full[version] = list(full[base]) if kind == "same" else apply_diff(full[base], data,
                                                                           f"{where} [{version}]")
    for version, lines in full.items():
        _check_exit(lines, f"{where} [{version}]")
    # keep the file's order of versions
    scenario.transcripts = {version: full[version] for version, *_ in pending}


def parse_file(text: str, source: str = "<text>") -> list:
    """All scenarios of a file. A malformed scenario comes back with ``error`` set (others still run)."""
    lines = text.split("\n")
    scenarios: list = []
    starts = [n for n, raw in enumerate(lines) if raw.startswith("## ")]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        name = lines[start][3:].strip()
        scenario = Scenario(name=name, source=source, line_no=start + 1)
        try:
            _parse_scenario(scenario, lines[start + 1:end], start + 2)
        except NotationError as exc:
            scenario.error = str(exc)
        scenarios.append(scenario)
    return scenarios


# -- segments --------------------------------------------------------------------------
def split_mixed(text: str, where: str = "") -> tuple[str, str]:
    """Split an ``M|`` line into (stdout part, stderr part).

    Rule (derived from every M line recorded): the stdout part is the run of progress-bar
    repaints the line starts with (the bar never ends with a newline), and everything after
    the last repaint is stderr. Lines that do not start with a repaint are split before the first
    ``dfu-util: `` (a warnx/errx prefix).
    """
    m = _REPAINTS_PREFIX_RE.match(text)
    if m and m.end() < len(text):
        return text[:m.end()], text[m.end():]
    at = text.find("dfu-util: ", 1)
    if at > 0:
        return text[:at], text[at:]
    raise NotationError(f"{where}: cannot tell where stdout ends in M line {escape(text)!r}")


def needs_banner(lines: list) -> bool:
    """Whether dfu-util printed its banner before these (banner-free) lines."""
    if not lines or lines[0].kind == "X":
        return True
    first = lines[0].render()
    return not any(rx.match(first) for rx in PRE_BANNER_RES)


def expected_segments(lines: list, version: str, where: str = "") -> tuple[list, int]:
    """Full expected output of one run: ([(stream, text)...], exit status), banner included."""
    segments: list = []
    if needs_banner(lines):
        if version not in BANNERS:
            raise NotationError(f"{where}: no banner known for dfu-util {version}")
        segments.append((STDOUT, BANNERS[version]))
    status = None
    for line in lines:
        if line.kind == "O":
            segments.append((STDOUT, line.text + "\n"))
        elif line.kind == "E":
            segments.append((STDERR, line.text + "\n"))
        elif line.kind == "M":
            out, err = split_mixed(line.text, where)
            segments += [(STDOUT, out), (STDERR, err + "\n")]
        else:
            status = int(line.text)
    return merge(segments), status


def merge(segments: list) -> list:
    """Join neighbouring pieces of the same stream; drop empty ones."""
    merged: list = []
    for stream, text in segments:
        if not text:
            continue
        if merged and merged[-1][0] == stream:
            merged[-1] = (stream, merged[-1][1] + text)
        else:
            merged.append((stream, text))
    return merged


def collapse_repaints(segments: list) -> list:
    """The wall-clock normalisation: a progress-bar repaint whose fill (number of '=') equals the
    fill of the repaint printed before it on stdout is dropped, whatever its label, percentage
    and byte count.

    dfu-util (dfu_file.c dfu_progress_bar) keeps the last printed fill and second in statics
    shared by all bars and skips a call when both are unchanged, so a printed repaint with an
    unchanged fill exists only because time(NULL) moved to the next second."""
    last_fill = [None]

    def keep_or_drop(m: "re.Match") -> str:
        fill = m.group(1).count("=")
        if fill == last_fill[0]:
            return ""
        last_fill[0] = fill
        return m.group(0)

    return merge([(s, _FILLED_REPAINT_RE.sub(keep_or_drop, t) if s == STDOUT else t) for s, t in merge(segments)])


BANNER_BUGS_PREFIX = "Please report bugs to "


def normalise_banner(segments: list) -> list:
    """The banner normalisation: when stdout starts with a banner-shaped block (the 7 lines of
    ``_BANNER_LINE_RES``), the address on its "Please report bugs to ..." line is replaced by
    ``<address>``, because a re-implementation sends bug reports to itself. The rest of the
    banner, and whether there is one at all, is compared as is."""
    merged = merge(segments)
    if not merged or merged[0][0] != STDOUT:
        return merged
    lines = merged[0][1].split("\n")
    if len(lines) > len(_BANNER_LINE_RES) and all(
            rx.fullmatch(line) for line, rx in zip(lines, _BANNER_LINE_RES)):
        lines[5] = BANNER_BUGS_PREFIX + "<address>"
        merged[0] = (STDOUT, "\n".join(lines))
    return merged


def render(segments: list) -> list:
    """Segments as notation lines (for diffs). Lines mixing streams other than stdout-then-stderr
    are shown as ``?| `` with ``{O:...}{E:...}`` pieces; a final line without newline gets
    `` [no newline]``."""
    out: list = []
    pieces: list = []  # (stream, text) of the current line

    def flush(newline: bool) -> None:
        if not pieces:
            return
        streams = [s for n, (s, _) in enumerate(pieces) if n == 0 or s != pieces[n - 1][0]]
        text = "".join(t for _, t in pieces)
        if all(s == STDOUT for s in streams):
            line = "O| " + escape(text)
        elif all(s == STDERR for s in streams):
            line = "E| " + escape(text)
        elif streams == [STDOUT, STDERR]:
            line = "M| " + escape(text)
        else:
            line = "?| " + "".join("{%s:%s}" % ("O" if s == STDOUT else "E", escape(t)) for s, t in pieces if t)
        out.append(line if newline else line + " [no newline]")
        pieces.clear()

    for stream, text in merge(segments):
        parts = text.split("\n")
        for n, part in enumerate(parts):
            if n > 0:
                pieces.append((stream, ""))  # the newline's own stream counts too
                flush(True)
            if part:
                pieces.append((stream, part))
    flush(False)
    return out
