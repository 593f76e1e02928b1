"""The profile contract."""

from __future__ import annotations

import abc
import dataclasses
from typing import Iterable

from ..engine import Engine
from .settings import QUALITY_RANGE, RATE_RANGE, check_rate_quality, make  # noqa: F401 (re-exported)


class InputChanged(ValueError):
    """A coder that reads its input back from a mirrored file (FrameEncoder ``mirror``) found
    the file changed since its samples were written."""


class FrameEncoder(abc.ABC):
    """Turns grid samples of all channels into frame payloads, streaming."""

    @abc.abstractmethod
    def push(self, grid: np.ndarray) -> list:
        """Take grid samples (channels, n) (any n); return the payloads now complete.

        A payload is ``bytes``; a uint8 array (k, ...) stands for k payloads of one size (its
        rows in C order), framed without a Python object each (:func:`tqa.format.frames_of`).
        """

    @abc.abstractmethod
    def finish(self, n_samples: int) -> Iterable:
        """The remaining payloads (as :meth:`push` returns them), for a stream of ``n_samples``
        samples per channel: a list, or any iterable (a generator keeps memory flat: the driver
        writes them in batches).  The settings and profile data are final when it returns."""

    settings = None  # the settings to record in the header, when the coder refines them (e.g. hop="auto")
    # Optional ``push_int16(x)``: 16-bit samples (n, channels) int16, taken as the grid 256·x
    # (what push of that grid would return); tqa.stream calls it for int16 input where a coder has it.
    # Optional ``mirror(fd, offset) -> bool``: those int16 samples are the bytes of the file open as fd
    # from byte offset on (tqa.stream.Encoder.mirror_input); a coder that keeps its input may read
    # them back from there (spectral2's spool).

    def profile_data(self) -> bytes:
        """Bytes the decoder needs beyond the header fields (stored in the header's metadata).

        Asked for when the first payloads are written: a coder that has such data produces no
        payload before it knows it.
        """
        return b""


class FrameDecoder(abc.ABC):
    """Turns runs of frame payloads back into grid samples."""

    @abc.abstractmethod
    def decode(self, first: int, payloads: list) -> np.ndarray:
        """Grid samples (channels, m) from frames first..first+len-1.

        A payload that is an exception (a damaged or missing frame) decodes as silence.  The
        samples start at :meth:`Profile.output_start`; raises :class:`tqa.format.FormatError`
        (via ``BlockError``-style ``row``) for an undecodable payload.
        """


class Profile(abc.ABC):
    """A coding profile: id and name, its Settings class, its header fields and its codec."""

    id: int
    name: str
    Settings: type
    segmentable: bool = False  # frames code independently: a stream may be coded in segments

    # settings --------------------------------------------------------------------------
    def settings(self, **kw):
        """Validated settings from keywords (unknown keywords: a TypeError naming the known ones)."""
        return make(self.Settings, self.name, **kw)

    def describe(self, settings) -> dict:
        """The settings as a JSON-able dict (for info() and reports)."""
        return dataclasses.asdict(settings)

    @abc.abstractmethod
    def pack_fields(self, settings) -> bytes:
        """The profile's 16 header bytes."""

    @abc.abstractmethod
    def parse_fields(self, data: bytes):
        """Settings from the 16 header bytes (ValueError / FormatError if invalid)."""

    # geometry --------------------------------------------------------------------------
    @abc.abstractmethod
    def n_frames(self, settings, n_samples: int) -> int: ...

    @abc.abstractmethod
    def frame_size(self, settings, channels: int, n_samples: int, i: int) -> int | None:
        """Bytes of frame ``i`` including index and CRC, or None if frames vary in size."""

    @abc.abstractmethod
    def samples_of_frames(self, settings, frames: int) -> int:
        """Samples per channel that ``frames`` complete frames hold (an unfinished stream's length)."""

    @abc.abstractmethod
    def frames_for(self, settings, start: int, stop: int) -> tuple[int, int]:
        """Frames [first, last) needed to decode samples [start, stop)."""

    @abc.abstractmethod
    def output_start(self, settings, first: int) -> int:
        """The sample at which :meth:`FrameDecoder.decode` output from frame ``first`` begins."""

    @abc.abstractmethod
    def frame_samples(self, settings, i: int, n_samples: int) -> tuple[int, int]:
        """Samples [lo, hi) that frame ``i`` affects (for damage reports)."""

    def decode_chunk_frames(self, settings, channels: int, budget: int) -> int:
        """Frames per decode call for a working set of the order of ``budget`` bytes: this base
        rule fills it once; a profile whose per-call cost is higher may take a small multiple
        (spectral2 takes 2× of coefficients, ~3 such arrays live: :func:`tqa.sv2.decode_chunk_frames`)."""
        return max(1, budget // max(1, 8 * channels * self.samples_of_frames(settings, 1)))

    # codec -----------------------------------------------------------------------------
    @abc.abstractmethod
    def encoder(self, settings, channels: int, engine: Engine, budget: int, sample_rate: int) -> FrameEncoder: ...

    @abc.abstractmethod
    def decoder(self, header, engine: Engine, budget: int) -> FrameDecoder:
        """A decoder for the stream ``header`` (:class:`tqa.format.StreamHeader`) describes."""

    def __repr__(self) -> str:
        return f"<tqa profile {self.id} {self.name!r}>"
