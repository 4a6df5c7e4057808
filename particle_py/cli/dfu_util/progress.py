"""dfu-util's progress bar (dfu_file.c dfu_progress_bar), byte for byte.

``\\r<label>\\t[<25 chars>] <pct>% <bytes> bytes`` with no newline; a full bar adds
``\\n<label> done.\\n``. An update is skipped when the fill equals the previous one and the
clock shows the same second as the previous call: that state is shared by all bars of a
run, as dfu-util's statics are. The clock is injectable so output can be made repeatable.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

WIDTH = 25


class ProgressBar:
    def __init__(self, write: Callable[[str], None], clock: Optional[Callable[[], float]] = None):
        self._write = write
        self._clock = clock or time.time
        self._last_fill: Optional[int] = None
        self._last_second: Optional[int] = None

    def update(self, label: str, curr: int, maximum: int) -> None:
        second = int(self._clock())
        if maximum < curr:
            maximum = curr + 1           # unknown maximum
        if maximum == 0 and curr == 0:
            maximum = 1
        fill = min(WIDTH, (WIDTH * curr) // maximum)
        if fill == self._last_fill and second == self._last_second:
            return
        self._last_fill = fill
        self._last_second = second
        bar = "=" * fill + " " * (WIDTH - fill)
        text = "\r%s\t[%s] %3d%% %12d bytes" % (label, bar, (100 * curr) // maximum, curr)
        if fill == WIDTH:
            text += "\n%s done.\n" % label
        self._write(text)
