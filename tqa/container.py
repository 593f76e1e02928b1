"""The .tqa file format, version 1: reading and writing.

All integers are little-endian.  A file is a header followed by frames; every frame
but the last has the same size, so frame ``i`` starts at
``header_size + i * frame_size`` (random access in O(1), no index needed).

Header
======

======  ====  ================================================================
offset  size  field
======  ====  ================================================================
0       4     magic ``b"TQAF"``
4       1     version = 1 (a reader refuses a larger one)
5       1     profile: 0 = time-domain (others reserved; refused by v1 readers)
6       2     header_size H in bytes, CRC included (44 for profile 0; a reader
              accepts 44..4096 and skips bytes between the profile fields and
              the CRC, which later minor revisions may use)
8       4     sample_rate in Hz, 1 .. 2**31-1
12      2     channels, 1 .. 4096
14      1     source sample format: 1 int16, 2 int24, 3 int32, 4 float32,
              5 float64, 6 int8, 7 uint8
15      1     flags, 0 (reserved)
16      8     n: sample frames per channel, 0 .. 2**48
24      1     log2(block_size) N, 6 .. 13
25      1     bits per coefficient b, 1 .. 8
26      1     residual: 0 none, 1 sign, 2 qjl
27      1     reserved, 0
28      2     qjl_rows m (multiple of 8, 8 .. N) for qjl, else 0
30      2     blocks per channel per frame F, 1 .. 4096
32      8     seed (u64) of the rotations (see tqa.rotation)
40      4     CRC-32 (zlib) of bytes 0 .. H-5
======  ====  ================================================================

Frames
======

Frame ``i`` holds blocks ``i*F .. i*F+F-1`` of every channel (the last frame only
the ``ceil(remaining/N)`` blocks still needed; the samples past n in its last block
are zero on encoding and dropped on decoding).  A frame is::

    u32 frame index i
    for each channel c, for each block j of the frame: one block record
    u32 CRC-32 of the frame from its index to the end of its last record

A block record (R bytes, fixed by the header) is::

    u16 side: bits 0-11 scale code k, bits 12-13 mode
              (0 silent, 1 rotation, 2 fallback rotation, 3 identity), 14-15 zero
    u16 QJL gain code (residual = qjl only; bits 12-15 zero)
    N*b/8 bytes: the N b-bit Lloyd–Max cell indices, MSB first
    residual bits, MSB first: N/8 bytes (sign), m/8 bytes (qjl), none otherwise

Codes, the scale code's value and the decoding rules are in :mod:`tqa.blockcodec`.

Profile 1: spectral
===================

Same common header (bytes 0–23, with profile = 1), then:

======  ====  ================================================================
offset  size  field
======  ====  ================================================================
24      1     log2(hop) N: 8 .. 11 (MDCT of 2N samples, N coefficients)
25      1     band size, 16
26      1     rate mode: 0 CBR (``rate``), 1 VBR (``quality``)
27      1     reserved, 0
28      4     rate in milli-bits per sample (CBR) or quality in milli-dB (VBR)
32      8     seed (u64) of the band rotation signs (tqa.rotation, label 3)
40      4     CRC-32 of bytes 0 .. 39
======  ====  ================================================================

There are ``ceil(n/N) + 1`` frames, one per MDCT frame (all channels).  A frame is::

    u32 frame index
    u8  flags: bit 0 = mid/side (channels 0 and 1 carry (L+R)/√2 and (L-R)/√2)
    for each channel: band scale codes, MSB first: 7 bits, then 5-bit two's
        complement deltas for the other N/16 bands, padded to a byte
    band codes: for t = 1 .. 14, every band (channel-major) allocated t bits, in
        order, 16 codes of t bits each, MSB first (2t bytes a band)
    zero bytes up to the frame size (CBR)
    u32 CRC-32 of the frame from its index to here

The allocation is not stored: it follows from the scale codes and the frame's
size (see :mod:`tqa.spectral`).  CBR frames all have the same size, so frame i is
at ``44 + i * size``.  VBR files end with an index: ``n_frames + 1`` u64 frame
offsets (the last one is the index's own offset), then the u64 offset of the index
and the magic ``b"TQAX"``.

Limits and validation
=====================

Every field is checked against the ranges above before anything is allocated; the
frame count and sizes follow from the header, and a file shorter than they
require is reported as truncated.  A frame whose CRC or index does not match is
reported by its index (``FormatError``).  No pickle, no NumPy serialization, no
eval: fixed-width integers and packed bits only.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .blockcodec import RESIDUALS, Settings
from .samples import FORMATS

__all__ = ["FormatError", "Header", "MAGIC", "VERSION", "Reader"]

MAGIC = b"TQAF"
VERSION = 1
PROFILES = {0: "time", 1: "spectral"}
_FIXED = struct.Struct("<4sBBHIHBBQBBBBHHQ")  # 40 bytes before the CRC
HEADER_SIZE = _FIXED.size + 4
MAX_HEADER = 4096
MAX_CHANNELS = 4096
MAX_SAMPLES = 2**48
MAX_FRAME_BLOCKS = 4096
FRAME_OVERHEAD = 8


class FormatError(ValueError):
    """A .tqa stream that cannot be decoded: bad header, truncated or damaged frame."""

    def __init__(self, message: str, frame: int | None = None) -> None:
        super().__init__(message)
        self.frame = frame


@dataclass(frozen=True)
class Header:
    """Header of a time-domain (profile 0) stream."""

    PROFILE = 0
    sample_rate: int
    channels: int
    n_samples: int
    source_format: int
    settings: Settings
    frame_blocks: int
    version: int = VERSION
    profile: int = 0
    header_size: int = field(default=HEADER_SIZE)

    def __post_init__(self) -> None:
        _check_range("blocks per frame", self.frame_blocks, 1, MAX_FRAME_BLOCKS)
        _check_stream(self)

    # geometry ----------------------------------------------------------------
    @property
    def block_size(self) -> int:
        return self.settings.block_size

    @property
    def frame_samples(self) -> int:
        """Sample frames per channel covered by one full frame."""
        return self.frame_blocks * self.block_size

    @property
    def n_frames(self) -> int:
        return -(-self.n_samples // self.frame_samples)

    def frame_blocks_of(self, i: int) -> int:
        """Blocks per channel in frame ``i`` (fewer in the last one)."""
        rest = self.n_samples - i * self.frame_samples
        return min(self.frame_blocks, -(-rest // self.block_size))

    def frame_size(self, i: int) -> int:
        return FRAME_OVERHEAD + self.channels * self.frame_blocks_of(i) * self.settings.record_bytes

    def frame_offset(self, i: int) -> int:
        return self.header_size + i * self.frame_size(0)

    @property
    def file_size(self) -> int:
        if self.n_frames == 0:
            return self.header_size
        return self.frame_offset(self.n_frames - 1) + self.frame_size(self.n_frames - 1)

    # bytes -------------------------------------------------------------------
    def pack(self) -> bytes:
        s = self.settings
        fixed = _FIXED.pack(
            MAGIC, self.version, self.profile, HEADER_SIZE, self.sample_rate, self.channels,
            self.source_format, 0, self.n_samples, s.block_size.bit_length() - 1, s.bits,
            RESIDUALS.index(s.residual), 0, s.qjl_rows, self.frame_blocks, s.seed,
        )  # fmt: skip
        return fixed + struct.pack("<I", zlib.crc32(fixed))

    @classmethod
    def parse(cls, data: bytes, name: str = "stream") -> "Header":
        """Parse and validate a profile-0 header from the first bytes of a stream."""
        profile, size = _check_common(data, name)
        if profile != cls.PROFILE:
            raise FormatError(f"{name}: profile {profile} is not the time-domain profile")
        (_, _, _, _, rate, channels, fmt, flags, n, log_n, bits, residual, reserved, m, fb, seed) = _FIXED.unpack_from(data)
        if flags or reserved:
            raise FormatError(f"{name}: reserved header fields are not zero")
        if not 6 <= log_n <= 13:
            raise FormatError(f"{name}: log2 block size {log_n} out of range 6..13")
        if residual >= len(RESIDUALS):
            raise FormatError(f"{name}: unknown residual mode {residual}")
        try:
            settings = Settings(1 << log_n, bits, RESIDUALS[residual], seed, m if RESIDUALS[residual] == "qjl" else (m or None))
            return cls(rate, channels, n, fmt, settings, fb, VERSION, profile, size)
        except FormatError as exc:
            raise FormatError(f"{name}: {exc}") from None
        except ValueError as exc:
            raise FormatError(f"{name}: invalid header: {exc}") from None


def _check_common(data: bytes, name: str) -> tuple[int, int]:
    """Checks every profile's header shares: (profile, header size)."""
    if len(data) < 8:
        raise FormatError(f"{name}: too short for a .tqa header ({len(data)} bytes)")
    if data[:4] != MAGIC:
        raise FormatError(f"{name}: not a .tqa file (magic {data[:4]!r}, expected {MAGIC!r})")
    version, profile, size = data[4], data[5], struct.unpack_from("<H", data, 6)[0]
    if version != VERSION:
        raise FormatError(f"{name}: .tqa version {version} is not supported (this reader knows version {VERSION})")
    if profile not in PROFILES:
        raise FormatError(f"{name}: unknown profile {profile} (this reader knows {sorted(PROFILES)})")
    if not HEADER_SIZE <= size <= MAX_HEADER:
        raise FormatError(f"{name}: header size {size} out of range {HEADER_SIZE}..{MAX_HEADER}")
    if len(data) < size:
        raise FormatError(f"{name}: truncated header ({len(data)} of {size} bytes)")
    (crc,) = struct.unpack_from("<I", data, size - 4)
    if zlib.crc32(data[: size - 4]) != crc:
        raise FormatError(f"{name}: header CRC mismatch (damaged header)")
    return profile, size


def _check_stream(h) -> None:
    """The fields every profile's header has, and its frame count, within the limits."""
    _check_range("sample_rate", h.sample_rate, 1, 2**31 - 1)
    _check_range("channels", h.channels, 1, MAX_CHANNELS)
    _check_range("frame count", h.n_samples, 0, MAX_SAMPLES)
    if h.source_format not in FORMATS:
        raise FormatError(f"unknown source sample format code {h.source_format}")
    if h.n_frames > 2**32 - 1:
        raise FormatError(f"{h.n_frames} frames exceed the 32-bit frame index; use larger frames")


def _open(source) -> tuple[BinaryIO, int]:
    """A seekable binary file for ``source`` (bytes are wrapped) and its size."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    size = source.seek(0, os.SEEK_END)
    source.seek(0)
    return source, size


def _check_range(what: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise FormatError(f"{what} {value} out of range {lo}..{hi}")


def pack_frames(header: Header, first: int, records: np.ndarray) -> bytes:
    """Frames ``first, first+1, ...`` from records of shape (channels, blocks, R).

    ``blocks`` covers whole frames, except that the last frame of the stream may be
    short; each frame gets its index and CRC-32.
    """
    c, blocks, r = records.shape
    fb = header.frame_blocks
    out = []
    for j, lo in enumerate(range(0, blocks, fb)):
        body = struct.pack("<I", first + j) + records[:, lo : lo + fb].tobytes()
        out.append(body)
        out.append(struct.pack("<I", zlib.crc32(body)))
    return b"".join(out)


class Reader:
    """Random access to the frames of a .tqa stream (bytes or a binary file object)."""

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO, name: str = "stream", strict: bool = True) -> None:
        """``strict=False`` accepts a truncated stream: the missing frames then fail one by one."""
        self.name = name
        self._f, self.size = _open(source)
        head = self._f.read(MAX_HEADER)
        self.header = Header.parse(head, name)
        self.truncated = self.size < self.header.file_size
        if self.truncated and strict:
            # Count the frames that are fully there, for the message.
            h = self.header
            complete = max(0, min(h.n_frames, (self.size - h.header_size) // h.frame_size(0)))
            raise FormatError(
                f"{name}: truncated: header declares {h.n_frames} frames ({h.file_size} bytes), "
                f"file has {self.size} bytes (frame {complete} is incomplete)",
                frame=complete,
            )

    def frame(self, i: int) -> np.ndarray:
        """Records of frame ``i``, shape (channels, blocks, R), after checking index and CRC."""
        h = self.header
        if not 0 <= i < h.n_frames:
            raise IndexError(f"frame {i} out of range 0..{h.n_frames - 1}")
        size = h.frame_size(i)
        self._f.seek(h.frame_offset(i))
        data = self._f.read(size)
        if len(data) != size:
            raise FormatError(f"{self.name}: frame {i} is truncated", frame=i)
        (crc,) = struct.unpack_from("<I", data, size - 4)
        if zlib.crc32(data[: size - 4]) != crc:
            raise FormatError(f"{self.name}: frame {i} is damaged (CRC mismatch)", frame=i)
        (index,) = struct.unpack_from("<I", data, 0)
        if index != i:
            raise FormatError(f"{self.name}: frame {i} carries index {index} (frames swapped or duplicated)", frame=i)
        rec = np.frombuffer(data, np.uint8, size - FRAME_OVERHEAD, 4)
        return rec.reshape(h.channels, h.frame_blocks_of(i), h.settings.record_bytes)

    def verify(self) -> list[tuple[int, str]]:
        """Check every frame's CRC and index: a list of (frame, problem), empty if intact."""
        bad = []
        for i in range(self.header.n_frames):
            try:
                self.frame(i)
            except FormatError as exc:
                bad.append((i, str(exc)))
        if self.size > self.header.file_size:
            bad.append((self.header.n_frames, f"{self.size - self.header.file_size} bytes of trailing data after the last frame"))
        return bad


# -- profile 1: spectral ---------------------------------------------------------------
_SPECTRAL = struct.Struct("<4sBBHIHBBQBBBBIQ")  # 40 bytes before the CRC
_INDEX_MAGIC = b"TQAX"


@dataclass(frozen=True)
class SpectralHeader:
    """Header of a spectral (profile 1) stream."""

    PROFILE = 1
    sample_rate: int
    channels: int
    n_samples: int
    source_format: int
    settings: "object"  # tqa.spectral.SpectralSettings
    version: int = VERSION
    profile: int = 1
    header_size: int = HEADER_SIZE

    def __post_init__(self) -> None:
        _check_stream(self)

    @property
    def hop(self) -> int:
        return self.settings.hop

    @property
    def vbr(self) -> bool:
        return self.settings.quality is not None

    @property
    def n_frames(self) -> int:
        return -(-self.n_samples // self.hop) + 1

    @property
    def frame_size(self) -> int:
        """Bytes of every CBR frame."""
        return self.settings.cbr_frame_bytes(self.channels)

    def pack(self) -> bytes:
        s = self.settings
        mode, value = (1, s.quality) if self.vbr else (0, s.rate)
        fixed = _SPECTRAL.pack(
            MAGIC, self.version, 1, HEADER_SIZE, self.sample_rate, self.channels, self.source_format, 0,
            self.n_samples, s.hop.bit_length() - 1, 16, mode, 0, int(round(value * 1000)), s.seed,
        )  # fmt: skip
        return fixed + struct.pack("<I", zlib.crc32(fixed))

    @classmethod
    def parse(cls, data: bytes, name: str = "stream") -> "SpectralHeader":
        from .spectral import SpectralSettings

        profile, size = _check_common(data, name)
        if profile != cls.PROFILE:
            raise FormatError(f"{name}: profile {profile} is not the spectral profile")
        (_, version, _, _, rate, channels, fmt, flags, n, log_hop, band, mode, reserved, value, seed) = _SPECTRAL.unpack_from(data)
        if flags or reserved or band != 16 or mode > 1:
            raise FormatError(f"{name}: invalid spectral header fields")
        try:
            v = value / 1000.0
            settings = SpectralSettings(1 << log_hop if 8 <= log_hop <= 11 else -1, seed,
                                        rate=None if mode else v, quality=v if mode else None)  # fmt: skip
            return cls(rate, channels, n, fmt, settings, version, 1, size)
        except FormatError as exc:
            raise FormatError(f"{name}: {exc}") from None
        except ValueError as exc:
            raise FormatError(f"{name}: invalid header: {exc}") from None


def parse_header(data: bytes, name: str = "stream"):
    """The header of any known profile (validated), from a stream's first bytes."""
    profile, _ = _check_common(data, name)
    return SpectralHeader.parse(data, name) if profile == 1 else Header.parse(data, name)


class SpectralReader:
    """Frame access for profile 1 (CBR: computed offsets; VBR: the trailing index)."""

    def __init__(self, source, name: str = "stream", strict: bool = True) -> None:
        self.name = name
        self._f, self.size = _open(source)
        self.header = parse_header(self._f.read(MAX_HEADER), name)
        h = self.header
        self.truncated = False
        if h.vbr:
            self._offsets = self._read_index(strict)
        else:
            self._offsets = None
            end = h.header_size + h.n_frames * h.frame_size
            self.truncated = self.size < end
            if self.truncated and strict:
                complete = max(0, (self.size - h.header_size) // h.frame_size)
                raise FormatError(
                    f"{name}: truncated: header declares {h.n_frames} frames ({end} bytes), file has "
                    f"{self.size} bytes (frame {complete} is incomplete)", frame=complete)  # fmt: skip

    def _read_index(self, strict: bool) -> np.ndarray | None:
        h = self.header
        nf = h.n_frames
        need = 8 * (nf + 1) + 12
        if self.size < h.header_size + need:
            if strict:
                raise FormatError(f"{self.name}: truncated: no frame index at the end of a VBR stream", frame=0)
            self.truncated = True
            return None
        self._f.seek(self.size - 12)
        tail = self._f.read(12)
        (pos,) = struct.unpack_from("<Q", tail)
        if tail[8:] != _INDEX_MAGIC or pos != self.size - 12 - 8 * (nf + 1):
            if strict:
                raise FormatError(f"{self.name}: damaged or missing frame index (truncated VBR stream?)", frame=0)
            self.truncated = True
            return None
        self._f.seek(pos)
        offsets = np.frombuffer(self._f.read(8 * (nf + 1)), "<u8").astype(np.int64)
        if offsets[0] != h.header_size or offsets[-1] != pos or np.any(np.diff(offsets) < FRAME_OVERHEAD + 1):
            raise FormatError(f"{self.name}: damaged frame index")
        return offsets

    def _span(self, i: int) -> tuple[int, int]:
        h = self.header
        if self._offsets is not None:
            return int(self._offsets[i]), int(self._offsets[i + 1] - self._offsets[i])
        if h.vbr:
            raise FormatError(f"{self.name}: frame {i} cannot be located (the frame index is missing)", frame=i)
        return h.header_size + i * h.frame_size, h.frame_size

    def body(self, i: int) -> bytes:
        """Payload of frame ``i`` (between index and CRC), after checking both."""
        h = self.header
        if not 0 <= i < h.n_frames:
            raise IndexError(f"frame {i} out of range 0..{h.n_frames - 1}")
        off, size = self._span(i)
        self._f.seek(off)
        data = self._f.read(size)
        if len(data) != size:
            raise FormatError(f"{self.name}: frame {i} is truncated", frame=i)
        (crc,) = struct.unpack_from("<I", data, size - 4)
        if zlib.crc32(data[: size - 4]) != crc:
            raise FormatError(f"{self.name}: frame {i} is damaged (CRC mismatch)", frame=i)
        (index,) = struct.unpack_from("<I", data, 0)
        if index != i:
            raise FormatError(f"{self.name}: frame {i} carries index {index} (frames swapped or duplicated)", frame=i)
        return data[4 : size - 4]

    def bodies(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frames first..last-1 in one read: (buffer, body starts, body lengths), CRCs checked."""
        if self._offsets is None and self.header.vbr:
            raise FormatError(f"{self.name}: frame {first} cannot be located (the frame index is missing)", frame=first)
        spans = [self._span(i) for i in range(first, last)] if self._offsets is not None else None
        if spans is None:
            size = self.header.frame_size
            off0 = self.header.header_size + first * size
            lengths = np.full(last - first, size, np.int64)
        else:
            off0 = spans[0][0]
            lengths = np.array([n for _, n in spans], np.int64)
        self._f.seek(off0)
        data = self._f.read(int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        if len(data) != lengths.sum():
            for i in range(first, last):
                self.body(i)  # raises for the first incomplete frame
        view = memoryview(data)
        buf = np.frombuffer(data, np.uint8)
        for i, (s0, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
            crc = int.from_bytes(view[s0 + n - 4 : s0 + n], "little")
            index = int.from_bytes(view[s0 : s0 + 4], "little")
            if zlib.crc32(view[s0 : s0 + n - 4]) != crc or index != first + i:
                self.body(first + i)  # raises the precise error
        return buf, starts + 4, lengths - 8

    def verify(self) -> list[tuple[int, str]]:
        bad = []
        for i in range(self.header.n_frames):
            try:
                self.body(i)
            except FormatError as exc:
                bad.append((i, str(exc)))
        return bad


def open_reader(source, name: str = "stream", strict: bool = True):
    """A Reader (profile 0) or SpectralReader (profile 1) for ``source``."""
    source, _ = _open(source)
    head = source.read(MAX_HEADER)
    source.seek(0)
    if len(head) >= 8 and _check_common(head, name)[0] == 1:
        return SpectralReader(source, name, strict)
    return Reader(source, name, strict)


def index_bytes(offsets: list[int]) -> bytes:
    """The VBR trailer: frame offsets (plus the index's own), its position, the magic."""
    pos = offsets[-1]
    return np.asarray(offsets, "<u8").tobytes() + struct.pack("<Q", pos) + _INDEX_MAGIC
