"""GNU getopt_long (glibc >= 2.26), emulated byte for byte.

Table driven and program agnostic: the caller passes the short-option string and the
long-option table; this module knows nothing about dfu-util.

What is copied from glibc (posix/getopt.c):
- argument permutation: non-options are skipped and handed back afterwards, in their
  original order, followed by everything after a ``--`` terminator;
- ``-`` alone is a non-option; short clusters (``-lv``), attached values (``-a0``);
- ``--name=value`` and ``--name value``; unambiguous prefixes; an exact match wins over
  prefixes; prefixes that all name the same option (same has_arg and val) are not ambiguous
  and resolve to the first of them in table order;
- error texts, with ``argv[0]`` verbatim, and long names reported in full.

Like getopt_long, parsing continues after an error (the error is an item of the result);
callers that stop at the first error (dfu-util does) just stop iterating.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

NO_ARGUMENT = 0
REQUIRED_ARGUMENT = 1
OPTIONAL_ARGUMENT = 2


@dataclass(frozen=True)
class LongOption:
    """One row of the ``struct option`` table."""

    name: str
    has_arg: int
    val: str  # what getopt_long returns for it, usually the matching short letter


@dataclass(frozen=True)
class Parsed:
    """One result of getopt_long.

    ``key`` is the option's val, or ``'?'`` for an error (``':'`` for a missing argument
    when the short-option string starts with ``':'``). ``error`` is the message glibc prints
    (one line, no newline) or None; it is None too in silent mode.
    ``long_name`` is the full table name when the option was given in long form.
    """

    key: str
    optarg: Optional[str] = None
    error: Optional[str] = None
    long_name: Optional[str] = None


def _short_spec(shortopts: str) -> dict[str, int]:
    spec: dict[str, int] = {}
    body = shortopts.lstrip("+-")
    if body.startswith(":"):
        body = body[1:]
    i = 0
    while i < len(body):
        letter = body[i]
        colons = 0
        while i + 1 + colons < len(body) and body[i + 1 + colons] == ":":
            colons += 1
        i += 1 + colons
        if letter == ":":  # glibc never accepts ':' itself as an option letter
            continue
        spec[letter] = REQUIRED_ARGUMENT if colons == 1 else (OPTIONAL_ARGUMENT if colons >= 2 else NO_ARGUMENT)
    return spec


class GetoptLong:
    """Iterate over the options of ``argv`` (argv[0] is the program name as typed).

    After iteration, ``leftover`` holds the non-option arguments, as ``argv[optind:]``
    would after glibc's permutation.
    """

    def __init__(self, argv: Sequence[str], shortopts: str, longopts: Sequence[LongOption],
                 posixly_correct: bool = False):
        """``posixly_correct``: the POSIXLY_CORRECT environment variable is set (glibc then stops
        at the first non-option unless the optstring starts with '-')."""
        self.argv = list(argv)
        self.prog = self.argv[0] if self.argv else ""
        self.longopts = list(longopts)
        self.require_order = shortopts.startswith("+") or (posixly_correct and not shortopts.startswith("-"))
        self.return_in_order = shortopts.startswith("-")
        self.silent = shortopts.lstrip("+-").startswith(":")
        self.short = _short_spec(shortopts)
        self.leftover: list[str] = []

    # -- iteration -------------------------------------------------------------------
    def __iter__(self) -> Iterator[Parsed]:
        args = self.argv[1:]
        skipped: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                skipped.extend(args[i + 1:])
                break
            if arg == "-" or not arg.startswith("-"):
                if self.return_in_order:  # optstring "-...": non-options come back as key "\x01"
                    yield Parsed("\x01", optarg=arg)
                    i += 1
                    continue
                if self.require_order:
                    skipped.extend(args[i:])
                    break
                skipped.append(arg)
                i += 1
                continue
            if arg.startswith("--"):
                result, i = self._long(args, i)
                yield result
                continue
            # a cluster of short options
            pos = 1
            i += 1
            while pos < len(arg):
                letter = arg[pos]
                pos += 1
                kind = self.short.get(letter)
                if kind is None:
                    yield Parsed("?", error=None if self.silent else f"{self.prog}: invalid option -- '{letter}'")
                    continue
                if kind == NO_ARGUMENT:
                    yield Parsed(letter)
                    continue
                rest = arg[pos:]
                if rest:
                    yield Parsed(letter, optarg=rest)
                elif kind == OPTIONAL_ARGUMENT:
                    yield Parsed(letter)
                elif i < len(args):
                    yield Parsed(letter, optarg=args[i])
                    i += 1
                else:
                    yield self._missing_short(letter)
                break  # the argument used up the rest of the cluster
        self.leftover = skipped

    def parse(self) -> tuple[list[Parsed], list[str]]:
        """Everything at once: (results in order, leftover non-options)."""
        results = list(self)
        return results, self.leftover

    # -- helpers ---------------------------------------------------------------------
    def _missing_short(self, letter: str) -> Parsed:
        if self.silent:
            return Parsed(":")
        return Parsed("?", error=f"{self.prog}: option requires an argument -- '{letter}'")

    def _long(self, args: list[str], i: int) -> tuple[Parsed, int]:
        text = args[i][2:]
        name, eq, value = text.partition("=")
        i += 1
        found: Optional[LongOption] = None
        for option in self.longopts:
            if option.name == name:
                found = option
                break
        if found is None:
            ambiguous: list[LongOption] = []
            for option in self.longopts:
                if not option.name.startswith(name):
                    continue
                if found is None:
                    found = option
                elif (option.has_arg, option.val) != (found.has_arg, found.val):
                    if not ambiguous:
                        ambiguous.append(found)
                    ambiguous.append(option)
            if ambiguous:
                if self.silent:
                    return Parsed("?"), i
                names = " ".join(f"'--{o.name}'" for o in ambiguous)
                return Parsed("?", error=f"{self.prog}: option '--{text}' is ambiguous; possibilities: {names}"), i
        if found is None:
            return Parsed("?", error=None if self.silent else f"{self.prog}: unrecognized option '--{text}'"), i
        if eq:
            if found.has_arg == NO_ARGUMENT:
                error = None if self.silent else f"{self.prog}: option '--{found.name}' doesn't allow an argument"
                return Parsed("?", error=error, long_name=found.name), i
            return Parsed(found.val, optarg=value, long_name=found.name), i
        if found.has_arg == REQUIRED_ARGUMENT:
            if i < len(args):
                return Parsed(found.val, optarg=args[i], long_name=found.name), i + 1
            if self.silent:
                return Parsed(":", long_name=found.name), i
            return Parsed("?", error=f"{self.prog}: option '--{found.name}' requires an argument",
                          long_name=found.name), i
        return Parsed(found.val, long_name=found.name), i


def getopt_long(argv: Sequence[str], shortopts: str,
                longopts: Sequence[LongOption]) -> tuple[list[Parsed], list[str]]:
    """Convenience wrapper: all results plus the leftover non-options."""
    return GetoptLong(argv, shortopts, longopts).parse()
