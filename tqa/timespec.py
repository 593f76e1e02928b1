"""Time specifications on the command line, as sox and ffmpeg write them.

``90`` or ``90.5`` (seconds), ``1:30`` (minutes:seconds), ``1:02:03.5``
(hours:minutes:seconds) and ``44100s`` (a count of samples).  Parsing gives a
:class:`TimeSpec`; :meth:`TimeSpec.samples` turns it into a sample index at a rate,
refusing anything beyond the largest stream (2**48 samples per channel).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["TimeSpec", "parse", "MAX_SAMPLES", "TimeSpecError"]

MAX_SAMPLES = 2**48
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_SECONDS = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_SAMPLES = re.compile(r"^(\d+)s$")


class TimeSpecError(ValueError):
    """A time that cannot be read, or is out of range."""


@dataclass(frozen=True)
class TimeSpec:
    text: str
    seconds: float | None = None  # exactly one of seconds / sample_count is set
    sample_count: int | None = None

    def samples(self, rate: int, what: str = "time") -> int:
        """The sample index at ``rate`` Hz (rounded to the nearest sample)."""
        if self.sample_count is not None:
            n = self.sample_count
        else:
            v = self.seconds * rate
            if not math.isfinite(v) or v > MAX_SAMPLES:
                raise TimeSpecError(f"{what} {self.text}: beyond any stream (at most 2**48 samples, "
                                    f"{MAX_SAMPLES / rate:.6g} s at {rate} Hz)")  # fmt: skip
            n = int(round(v))
        if n > MAX_SAMPLES:
            raise TimeSpecError(f"{what} {self.text}: beyond any stream (at most 2**48 samples)")
        return n


def parse(text: str, what: str = "time") -> TimeSpec:
    """Read ``90``, ``1:30``, ``1:02:03.5`` or ``44100s``; negative, NaN and infinite times are refused."""
    s = str(text).strip()
    m = _SAMPLES.match(s)
    if m:
        return TimeSpec(s, sample_count=int(m.group(1)))
    m = _CLOCK.match(s)
    if m:
        h, mi, sec = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        if sec >= 60 or (m.group(1) is not None and mi >= 60):
            raise TimeSpecError(f"{what} {s}: minutes and seconds must be below 60 (e.g. 1:02:03.5)")
        return TimeSpec(s, seconds=h * 3600.0 + mi * 60.0 + sec)
    if _SECONDS.match(s):
        v = float(s)
        if not math.isfinite(v):
            raise TimeSpecError(f"{what} {s}: not a finite time")
        return TimeSpec(s, seconds=v)
    raise TimeSpecError(f"{what}: cannot read {s!r}; give seconds (90, 90.5), [h:]m:s (1:30, 1:02:03.5) "
                        f"or samples (44100s), not negative")  # fmt: skip
