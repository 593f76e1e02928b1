"""The .tqa container, version 1: the whole format of both profiles, and its reader.

Glossary
========

*sample frame*
    one sample of every channel at one instant (soundfile's "frame"); ``n`` counts them.
*container frame* (or just *frame*)
    the unit of random access and of the CRC: ``u32 index``, a profile's payload, ``u32 CRC``.
*block* (time-domain profile)
    N consecutive samples of one channel, rotated and quantized together.
*MDCT frame* (spectral profile)
    2·hop samples of every channel, windowed and transformed into hop coefficients; one
    MDCT frame is one container frame.

All integers are little-endian.  No pickle, no NumPy serialization, no eval: fixed-width
integers and packed bits only.

Header
======

======  ====  ===========================================================================
offset  size  field
======  ====  ===========================================================================
0       4     magic ``b"TQAF"`` (:data:`MAGIC`)
4       1     version = 1 (:data:`VERSION`; a reader refuses another)
5       1     profile id: 0 time-domain, 1 spectral (:mod:`tqa.profiles`)
6       2     header size H in bytes, CRC included, :data:`HEADER_SIZE` .. :data:`MAX_HEADER`
8       4     sample rate in Hz, 1 .. :data:`MAX_RATE`
12      2     channels, 1 .. :data:`MAX_CHANNELS`
14      1     source sample format (:data:`tqa.samples.FORMATS`): 1 int16, 2 int24, 3 int32,
              4 float32, 5 float64, 6 int8, 7 uint8
15      1     flags: bit 0 :data:`FLAG_UNFINISHED` (the writer never closed the stream:
              ``n`` is not known, the frames present are what there is); others zero
16      8     n: sample frames per channel, 0 .. :data:`MAX_SAMPLES`
24      16    the profile's fields (:data:`PROFILE_FIELDS` bytes; see below)
40      H-44  header extension: empty, or metadata (``b"TQAM"`` then records); a reader
              skips an extension without that magic, record types it does not know, and
              everything from a malformed record on
H-4     4     CRC-32 (zlib) of bytes 0 .. H-5
======  ====  ===========================================================================

A metadata record is ``u8 type, u16 length, length bytes``:
type 1 (:data:`META_TAG`) a tag ``KEY=value`` in UTF-8 (Vorbis-comment style, key upper case
ASCII without ``=``); type 2 (:data:`META_CHANNEL_MASK`) a u32 speaker mask (WAVE_FORMAT_EXTENSIBLE);
type 3 (:data:`META_PROFILE_DATA`) data a profile's decoder needs beyond its 16 bytes of fields
(profile 2: the stream's parameters – quantizer step, entropy tables – see :mod:`tqa.sv2`).

Profile 0, time-domain fields (bytes 24..39): ``u8 log2(block size N) 6..13, u8 bits b 1..8,
u8 residual (0 none, 1 sign, 2 qjl), u8 0, u16 qjl_rows m (multiple of 8, 8..N, qjl only,
else 0), u16 blocks per channel per frame F 1..4096, u64 seed``.

Profile 1, spectral fields: ``u8 log2(hop) 8..11, u8 band size 16, u8 rate mode (0 CBR, 1 VBR),
u8 0, u32 rate in milli-bits per sample (CBR) or target SQNR in milli-dB (VBR), u64 seed``.

Frames
======

Every frame is ``u32 frame index i, payload, u32 CRC-32 of the index and payload``
(:data:`FRAME_OVERHEAD` = 8 bytes).  Frames follow the header back to back.

*Fixed-size frames* (time-domain, spectral CBR): every frame but the last has the same size,
so frame i starts at ``H + i · size(0)``: random access with no index.

*Variable-size frames* (spectral VBR) are followed by an index: ``n_frames + 1`` u64 frame
offsets (the last is the index's own offset), the u64 offset of the index, and the magic
``b"TQAX"`` (:data:`INDEX_MAGIC`).

Time-domain payload: frame i holds blocks ``i·F .. i·F+F-1`` of every channel (the last
frame only the ``ceil(remaining/N)`` blocks still needed; samples past n are zero on
encoding and dropped on decoding), channel-major, one block record of R bytes each::

    u16 side: bits 0-11 scale code k (1..MAX_SCALE_CODE, 0 = silent), bits 12-13 mode
              (0 silent, 1 rotation, 2 fallback rotation, 3 identity), 14-15 zero
    u16 QJL gain code (residual = qjl only; bits 12-15 zero)
    N·b/8 bytes: the N b-bit Lloyd–Max cell indices, MSB first
    residual bits, MSB first: N/8 bytes (sign), m/8 bytes (qjl), none otherwise

(decoding rules and the scale code's value: :mod:`tqa.blockcodec`).

Spectral payload: there are ``ceil(n/hop) + 1`` frames, one per MDCT frame (all channels)::

    u8  flags: bit 0 = mid/side (channels 0 and 1 carry (L+R)/√2 and (L-R)/√2)
    for each channel: band scale codes, MSB first: 7 bits (0..MAX_SPECTRAL_SCALE), then
        5-bit two's complement deltas for the other hop/16 bands, padded to a byte
    band codes: for t = 1 .. 14, every band (channel-major) allocated t bits, in order,
        16 codes of t bits each, MSB first (2t bytes a band)
    zero bytes up to the frame size (CBR: ``ceil(rate · hop · channels / 8)`` bytes a frame)

The allocation is not stored: it follows from the scale codes and the frame's size
(:mod:`tqa.spectral`).

Profile 2, spectral2 fields: ``u8 log2(hop) 8..11, u8 flags (bit 0 band rotation, 1 transients,
2 pre-echo guard, 3 silence maps, 4 tune=perceptual, 5 frame floor (not with bit 4); others zero), u8 stereo (0 auto,
1 L/R, 2 M/S), u8 rate mode (0 bits/sample, 1 SQNR dB), u32 value: bits 0-16 the rate or quality in thousandths, bits
17-31 the frame floor in quarter dB (4..480, iff flags bit 5; else 0), u64 seed``.  Its profile data (the last
type-3 record) are the stream's parameters: ``4s b"TQS2", u8 version (1; 2 iff flags bit 4; 3 iff flags bit 5), u8 flags, u8 channels,
u16 hop, u32 sample rate, u64 n, u64 seed, f64 quantizer step`` then the bit-packed entropy
tables (:func:`tqa.sv2.codec.parse_params`), in version 2 followed by the perceptual record
(noise group, in-band zero fill, per-band weight codes: :mod:`tqa.sv2.perceptual`); channels, hop and n equal the header's, and the
step lies in :data:`tqa.sv2.codec.STEP_RANGE` (2**-64 .. 2**40).  There are ``max(1,
ceil(n/hop))`` frames of variable size, always followed by the index.  Payload: a header byte
(bit 0 short frame, bit 1/2 left/right overlap short, bit 3 M/S, bit 4 silence map, bit 5 noise
record (version 2 only) or frame refinement (version 3 only); others zero), in version 3 if bit 5 a refinement byte
r 1..80 (the frame's decoded coefficients, after M/S and the band rotation, times 2**(-r/4):
:mod:`tqa.sv2.floor`), 8 step refinements 0..40 if bit 0, the silence map if
bit 4, in version 2 the noise record if bit 5 and the frame's gain codes (u8 <= 63, then 4-bit
codes per group of 4 bands), then the entropy-coded data (:mod:`tqa.sv2`).  A short frame's overlaps are short, and the overlap at a boundary is short in
both neighbours or in neither; no reconstructed coefficient exceeds
:data:`tqa.sv2.codec.COEF_LIMIT` (2**35 grid units, twice what an orthonormal transform of
grid samples can give).

Limits and validation
=====================

Every field is checked against the ranges above before anything is allocated.  Every
count, size and offset read from a stream is checked against the stream's actual size
before it drives a loop, a read or an allocation: a file shorter than its header declares
is *truncated*, and its missing frames are reported as one range.  A frame whose CRC or
index does not match is reported by its index (:class:`FormatError` ``.frame``).

Every field that sets a magnitude is bounded by what a conforming encoder writes, so decoded
values stay where the engines' arithmetic is exact and the samples finite: profile 0 scale
codes (``MAX_SCALE_CODE`` in :mod:`tqa.blockcodec`) and QJL gains, profile 1 band scale codes
(at most ``MAX_SCALE_CODE`` = 72 in :mod:`tqa.spectral`), profile 2 step and coefficients
(above).  A frame beyond them is a :class:`FormatError` naming it.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .samples import FORMATS

__all__ = ["FormatError", "StreamHeader", "Reader", "MAGIC", "VERSION", "open_source"]

MAGIC = b"TQAF"
INDEX_MAGIC = b"TQAX"
VERSION = 1
COMMON = struct.Struct("<4sBBHIHBBQ")  # bytes 0..23
PROFILE_FIELDS = 16  # bytes 24..39
HEADER_SIZE = COMMON.size + PROFILE_FIELDS + 4
MAX_HEADER = 4096
MAX_RATE = 2**31 - 1
MAX_CHANNELS = 4096
MAX_SAMPLES = 2**48
MAX_FRAMES = 2**32 - 1  # the u32 frame index
FLAG_UNFINISHED = 1
FRAME_OVERHEAD = 8
INDEX_TAIL = 12  # u64 index offset + magic
INDEX_ENTRY = 8  # a VBR stream's index: a u64 offset per frame and one past the last
META_MAGIC = b"TQAM"
META_TAG, META_CHANNEL_MASK, META_PROFILE_DATA = 1, 2, 3
META_RECORD = struct.Struct("<BH")
MAX_METADATA = MAX_HEADER - HEADER_SIZE


class FormatError(ValueError):
    """A .tqa stream that cannot be decoded: bad header, truncated or damaged frame."""

    def __init__(self, message: str, frame: int | None = None) -> None:
        super().__init__(message)
        self.frame = frame


def check_range(what: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise FormatError(f"{what} {value} out of range {lo}..{hi}")


# -- metadata ------------------------------------------------------------------------------
def check_tags(tags) -> dict[str, str]:
    """Tags as a validated {KEY: value} dict (keys upper-cased)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise TypeError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    out = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"tags must map str to str, got {k!r}: {v!r}")
        key = k.upper()
        if not key or "=" in key or not key.isascii() or not key.isprintable():
            raise ValueError(f"tag key {k!r} must be printable ASCII without '='")
        out[key] = v
    return out


def pack_metadata(tags: dict[str, str], channel_mask: int | None, profile_data: bytes = b"") -> bytes:
    if not tags and channel_mask is None and not profile_data:
        return b""
    parts = [META_MAGIC]
    if profile_data:
        parts.append(META_RECORD.pack(META_PROFILE_DATA, len(profile_data)) + profile_data)
    for k, v in tags.items():
        b = f"{k}={v}".encode("utf-8")
        parts.append(META_RECORD.pack(META_TAG, len(b)) + b)
    if channel_mask is not None:
        parts.append(META_RECORD.pack(META_CHANNEL_MASK, 4) + struct.pack("<I", channel_mask))
    out = b"".join(parts)
    if len(out) > MAX_METADATA:
        raise ValueError(f"tags take {len(out)} bytes; the header holds at most {MAX_METADATA}")
    return out


def parse_metadata(data: bytes, name: str) -> tuple[dict[str, str], int | None, bytes]:
    """Tags and channel mask from the header extension (bytes 40 .. H-5).

    Extension bytes that do not start with :data:`META_MAGIC` are skipped whole, as version 1
    readers always skipped them; a malformed record ends the metadata (what came before it
    is kept), so no extension can make a stream undecodable.
    """
    tags: dict[str, str] = {}
    mask = None
    profile_data = b""
    if not data.startswith(META_MAGIC):
        return tags, mask, profile_data
    pos = len(META_MAGIC)
    while pos + META_RECORD.size <= len(data):
        kind, length = META_RECORD.unpack_from(data, pos)
        pos += META_RECORD.size
        body = data[pos : pos + length]
        if len(body) != length:
            break
        pos += length
        if kind == META_TAG:
            text = body.decode("utf-8", errors="replace")
            key, sep, value = text.partition("=")
            if sep:
                tags[key.upper()] = value
        elif kind == META_CHANNEL_MASK and length == 4:
            (mask,) = struct.unpack("<I", body)
        elif kind == META_PROFILE_DATA:
            profile_data = bytes(body)
    return tags, mask, profile_data


# -- header --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamHeader:
    """A parsed, validated header of any profile (``profile`` is a :class:`tqa.profiles.Profile`)."""

    profile: object
    settings: object
    sample_rate: int
    channels: int
    source_format: int
    n_samples: int
    tags: dict = field(default_factory=dict)
    channel_mask: int | None = None
    unfinished: bool = False
    version: int = VERSION
    header_size: int | None = None  # None: the size pack() writes
    profile_data: bytes = b""

    def __post_init__(self) -> None:
        if self.header_size is None:
            object.__setattr__(self, "header_size", HEADER_SIZE + len(self._metadata()))
        check_range("sample_rate", self.sample_rate, 1, MAX_RATE)
        check_range("channels", self.channels, 1, MAX_CHANNELS)
        check_range("frame count", self.n_samples, 0, MAX_SAMPLES)
        if self.source_format not in FORMATS:
            raise FormatError(f"unknown source sample format code {self.source_format}")
        if self.channel_mask is not None:
            check_range("channel mask", self.channel_mask, 0, 2**32 - 1)
        if self.n_frames > MAX_FRAMES:
            raise FormatError(f"{self.n_frames} frames exceed the 32-bit frame index; use larger frames")

    # geometry (the profile's) -------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.profile.n_frames(self.settings, self.n_samples)

    @property
    def fixed_size(self) -> bool:
        return self.profile.frame_size(self.settings, self.channels, self.n_samples, 0) is not None

    def frame_size(self, i: int) -> int | None:
        """Bytes of frame ``i`` (index and CRC included); None for variable-size frames."""
        return self.profile.frame_size(self.settings, self.channels, self.n_samples, i)

    def frame_offset(self, i: int) -> int:
        """Offset of frame ``i`` from the stream's start (fixed-size frames)."""
        return self.header_size + i * self.frame_size(0)

    @property
    def frames_end(self) -> int | None:
        """Offset just past the last frame (fixed-size frames), relative to the header's start."""
        if not self.fixed_size:
            return None
        nf = self.n_frames
        if nf == 0:
            return self.header_size
        return self.header_size + (nf - 1) * self.frame_size(0) + self.frame_size(nf - 1)

    # bytes --------------------------------------------------------------------------------
    def _metadata(self) -> bytes:
        return pack_metadata(self.tags, self.channel_mask, self.profile_data)

    def pack(self) -> bytes:
        meta = self._metadata()
        size = HEADER_SIZE + len(meta)
        fields = self.profile.pack_fields(self.settings)
        assert len(fields) == PROFILE_FIELDS
        flags = FLAG_UNFINISHED if self.unfinished else 0
        body = COMMON.pack(MAGIC, self.version, self.profile.id, size, self.sample_rate, self.channels,
                           self.source_format, flags, self.n_samples) + fields + meta  # fmt: skip
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def parse(cls, data: bytes, name: str, profiles) -> "StreamHeader":
        """Parse and validate a header from the first bytes of a stream.

        ``profiles``: the profile table (:mod:`tqa.profiles`: ``by_id`` and ``ids``), handed
        in so that the format layer does not depend on the profiles built over it.
        """
        if len(data) < 8:
            raise FormatError(f"{name}: too short for a .tqa header ({len(data)} bytes)")
        if data[:4] != MAGIC:
            raise FormatError(f"{name}: not a .tqa file (magic {data[:4]!r}, expected {MAGIC!r})")
        version, pid, size = data[4], data[5], struct.unpack_from("<H", data, 6)[0]
        if version != VERSION:
            raise FormatError(f"{name}: .tqa version {version} is not supported (this reader knows version {VERSION})")
        try:  # named before the CRC: a stream of a later profile is not "damaged"
            profile = profiles.by_id(pid)
        except KeyError:
            raise FormatError(f"{name}: unknown profile {pid} (this reader knows {profiles.ids()})") from None
        if not HEADER_SIZE <= size <= MAX_HEADER:
            raise FormatError(f"{name}: header size {size} out of range {HEADER_SIZE}..{MAX_HEADER}")
        if len(data) < size:
            raise FormatError(f"{name}: truncated header ({len(data)} of {size} bytes)")
        (crc,) = struct.unpack_from("<I", data, size - 4)
        if zlib.crc32(data[: size - 4]) != crc:
            raise FormatError(f"{name}: header CRC mismatch (damaged header)")
        _, _, _, _, rate, channels, fmt, flags, n = COMMON.unpack_from(data)
        if flags & ~FLAG_UNFINISHED:
            raise FormatError(f"{name}: reserved header flags {flags:#04x} are set")
        try:
            settings = profile.parse_fields(data[COMMON.size : COMMON.size + PROFILE_FIELDS])
            tags, mask, pdata = parse_metadata(data[HEADER_SIZE - 4 : size - 4], name)
            return cls(profile, settings, rate, channels, fmt, n, tags, mask, bool(flags & FLAG_UNFINISHED), version, size,
                       pdata)  # fmt: skip
        except FormatError as exc:
            msg = str(exc)
            raise FormatError(msg if msg.startswith(name) else f"{name}: {msg}") from None
        except ValueError as exc:
            raise FormatError(f"{name}: invalid header: {exc}") from None

    def with_length(self, n_samples: int, unfinished: bool = False) -> "StreamHeader":
        return dataclasses.replace(self, n_samples=n_samples, unfinished=unfinished)


# -- frames ---------------------------------------------------------------------------------
def frame_bytes(index: int, payload: bytes) -> bytes:
    body = struct.pack("<I", index) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def frame_array(first: int, payloads: np.ndarray) -> np.ndarray:
    """Frames ``first, first + 1, ...`` of ``k`` payloads of one size as a (k, size + 8) uint8 array.

    ``payloads``: a uint8 array (k, ...) whose rows (C order) are the payloads; the bytes are
    those of :func:`frame_bytes` of each row, built without a Python object per frame.
    """
    k = payloads.shape[0]
    size = int(np.prod(payloads.shape[1:]))
    out = np.empty((k, size + FRAME_OVERHEAD), np.uint8)
    body = out[:, 4 : 4 + size].view()
    body.shape = payloads.shape  # a view (raises rather than copy)
    body[...] = payloads
    out[:, 0:4] = np.arange(first, first + k, dtype="<u4").view(np.uint8).reshape(k, 4)
    mv = memoryview(out.reshape(-1))
    w = size + FRAME_OVERHEAD
    crc = np.fromiter((zlib.crc32(mv[i * w : i * w + w - 4]) for i in range(k)), "<u4", k)
    out[:, w - 4 :] = crc.view(np.uint8).reshape(k, 4)
    return out


def frames_of(first: int, payloads: list) -> tuple[list, list[int]]:
    """Frames of a profile coder's payloads (bytes, or uint8 arrays of several payloads, see
    :func:`frame_array`): (the pieces to write, in order; each frame's length)."""
    pieces, lengths = [], []
    i = first
    for p in payloads:
        if isinstance(p, np.ndarray):
            a = frame_array(i, p)
            pieces.append(a)
            lengths += [a.shape[1]] * a.shape[0]
            i += a.shape[0]
        else:
            b = frame_bytes(i, p)
            pieces.append(b)
            lengths.append(len(b))
            i += 1
    return pieces, lengths


def index_bytes(offsets: list[int]) -> bytes:
    """The VBR trailer: frame offsets (plus the index's own), its position, the magic."""
    return np.asarray(offsets, "<u8").tobytes() + struct.pack("<Q", offsets[-1]) + INDEX_MAGIC


def open_source(source) -> tuple[BinaryIO, str, bool]:
    """(binary file, name, opened_here) for bytes, a path or a binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), "stream", True
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb"), os.fspath(source), True
    if hasattr(source, "read") and hasattr(source, "seek"):
        return source, getattr(source, "name", "stream") if isinstance(getattr(source, "name", None), str) else "stream", False
    raise TypeError(f"expected bytes, a path or a binary file object, got {type(source).__name__}")


class Reader:
    """Frame access to a .tqa stream of any profile, bounded by the bytes actually there.

    The stream starts at the file object's current position.  ``strict=False`` accepts a
    truncated or unfinished stream: :attr:`n_available` frames are there (and their samples,
    :attr:`n_samples`), the rest is reported once, as a range.
    """

    def __init__(self, source, profiles, name: str | None = None, strict: bool = True) -> None:
        self._f, default_name, self._owned = open_source(source)
        self.name = name or default_name
        self.base = self._f.tell()
        end = self._f.seek(0, os.SEEK_END)
        self.size = end - self.base  # bytes of the stream (from its start to the end of the file)
        self._f.seek(self.base)
        self.header = StreamHeader.parse(self._f.read(min(MAX_HEADER, max(self.size, 0))), self.name, profiles)
        h = self.header
        self.problem: str | None = None  # the stream-level problem (truncation, lost index)
        self._offsets: np.ndarray | None = None
        if h.fixed_size and not h.unfinished:
            self.n_available = self._complete_fixed(h)
            if self.n_available < h.n_frames:
                self.problem = (f"truncated: header declares {h.n_frames} frames ({h.frames_end} bytes), "
                                f"file has {self.size} bytes")  # fmt: skip
        elif h.fixed_size:  # unfinished: as many whole frames as the file holds
            size0 = h.profile.frame_size(h.settings, h.channels, MAX_SAMPLES, 0)
            self.n_available = max(0, (self.size - h.header_size) // size0)
            self.header = h.with_length(h.profile.samples_of_frames(h.settings, self.n_available), unfinished=True)
            self.problem = f"unfinished stream (never closed): {self.n_available} whole frames found"
        else:
            self._offsets = self._read_index() if not h.unfinished else None
            if self._offsets is None:
                self._offsets = self._scan()
                found = len(self._offsets) - 1
                self.problem = (f"unfinished stream (never closed): {found} frames found by scanning" if h.unfinished
                                else f"{self.problem}: {found} frames found by scanning")  # fmt: skip
                if h.unfinished:
                    self.header = h.with_length(h.profile.samples_of_frames(h.settings, len(self._offsets) - 1), unfinished=True)
            self.n_available = len(self._offsets) - 1
        if self.problem and strict:
            raise FormatError(f"{self.name}: {self.problem} (frame {self.n_available} is incomplete)", frame=self.n_available)

    # -- layout ------------------------------------------------------------------------------
    def _complete_fixed(self, h: StreamHeader) -> int:
        """Frames whose bytes are all in the file (fixed-size frames), without looping over them."""
        nf = h.n_frames
        if nf == 0:
            return 0
        size0 = h.frame_size(0)
        whole = max(0, (self.size - h.header_size) // size0)
        if whole >= nf:
            return nf
        if whole == nf - 1 and self.size >= h.frames_end:
            return nf
        return min(whole, nf - 1)

    def _read_index(self) -> np.ndarray | None:
        """The VBR index, or None when it is missing or damaged (never trusting its counts)."""
        h = self.header
        nf = h.n_frames
        need = INDEX_ENTRY * (nf + 1) + INDEX_TAIL
        if self.size < h.header_size + need:
            self.problem = "truncated: no frame index at the end of a VBR stream"
            return None
        self._f.seek(self.base + self.size - INDEX_TAIL)
        tail = self._f.read(INDEX_TAIL)
        (pos,) = struct.unpack_from("<Q", tail)
        if tail[8:] != INDEX_MAGIC or pos != self.size - INDEX_TAIL - INDEX_ENTRY * (nf + 1):
            self.problem = "damaged or missing frame index (truncated VBR stream, or bytes appended)"
            return None
        self._f.seek(self.base + pos)
        offsets = np.frombuffer(self._f.read(INDEX_ENTRY * (nf + 1)), "<u8").astype(np.int64)
        if offsets[0] != h.header_size or offsets[-1] != pos or np.any(np.diff(offsets) < FRAME_OVERHEAD + 1):
            self.problem = "damaged frame index"
            return None
        return offsets

    def _scan(self) -> np.ndarray:
        """Offsets of the frames found by their own index and CRC, from the header on (salvage).

        Reads the stream once (O(size) time and memory); frame i+1 starts where the u32
        ``i + 1`` follows a span whose CRC matches.
        """
        h = self.header
        self._f.seek(self.base)
        data = self._f.read(self.size)
        offsets = [h.header_size]
        i, pos = 0, h.header_size
        limit = MAX_FRAMES if h.unfinished else h.n_frames
        while i < limit and pos + FRAME_OVERHEAD < len(data):
            if struct.unpack_from("<I", data, pos)[0] != i:
                break
            nxt = struct.pack("<I", i + 1)
            q = data.find(nxt, pos + FRAME_OVERHEAD + 1)
            found = None
            while q != -1:
                if zlib.crc32(data[pos : q - 4]) == struct.unpack_from("<I", data, q - 4)[0]:
                    found = q
                    break
                q = data.find(nxt, q + 1)
            if found is None:
                # the last frame: it ends where a CRC matches before the index (or the file's end)
                end = self._last_frame_end(data, pos)
                if end is not None:
                    offsets.append(end)
                break
            offsets.append(found)
            i, pos = i + 1, found
        return np.asarray(offsets, np.int64)

    @staticmethod
    def _last_frame_end(data: bytes, pos: int) -> int | None:
        """End of the last frame, starting at ``pos``: where the index trailer says the index
        begins (found by its magic, even with bytes appended after it), or the file's end."""
        cands = []
        m = data.rfind(INDEX_MAGIC)
        if m >= 8:
            cands.append(struct.unpack_from("<Q", data, m - 8)[0])
        cands.append(len(data))
        for end in cands:
            if pos + FRAME_OVERHEAD < end <= len(data):
                if zlib.crc32(data[pos : end - 4]) == struct.unpack_from("<I", data, end - 4)[0]:
                    return end
        return None

    def span(self, i: int) -> tuple[int, int]:
        """(offset from the stream's start, size) of frame ``i``."""
        if self._offsets is not None:
            return int(self._offsets[i]), int(self._offsets[i + 1] - self._offsets[i])
        h = self.header
        return h.header_size + i * h.frame_size(0), h.frame_size(i)

    @property
    def n_frames(self) -> int:
        """Frames the header declares (for an unfinished stream: those found)."""
        return self.header.n_frames if not self.header.unfinished else self.n_available

    # -- frames ------------------------------------------------------------------------------
    def _check(self, i: int, data: bytes | memoryview) -> None:
        if len(data) < FRAME_OVERHEAD:
            raise FormatError(f"{self.name}: frame {i} is truncated", frame=i)
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:-4]) != crc:
            raise FormatError(f"{self.name}: frame {i} is damaged (CRC mismatch)", frame=i)
        (index,) = struct.unpack_from("<I", data, 0)
        if index != i:
            raise FormatError(f"{self.name}: frame {i} carries index {index} (frames swapped or duplicated)", frame=i)

    def payloads(self, first: int, last: int) -> list:
        """Payloads of frames first..last-1 (bytes), or the FormatError of each bad one, in one read."""
        if not 0 <= first <= last <= self.n_frames:
            raise IndexError(f"frames {first}..{last - 1} out of range 0..{self.n_frames - 1}")
        out: list = []
        avail = min(last, self.n_available)
        if first < avail:
            lo, _ = self.span(first)
            hi = sum(self.span(avail - 1))
            self._f.seek(self.base + lo)
            data = memoryview(self._f.read(hi - lo))
            if self._offsets is None:  # fixed-size frames: every span but the stream's last is size0
                h = self.header
                size0 = h.frame_size(0)
                final = h.n_frames - 1
                spans = [(h.header_size + i * size0, size0) for i in range(first, avail)]
                if avail - 1 == final:
                    spans[-1] = self.span(final)
            else:
                spans = [self.span(i) for i in range(first, avail)]
            crc32, unpack = zlib.crc32, struct.unpack_from
            for i, (off, size) in zip(range(first, avail), spans):
                chunk = data[off - lo : off - lo + size]
                # the checks of _check, inline (this loop runs once per frame)
                if len(chunk) == size >= FRAME_OVERHEAD and crc32(chunk[:-4]) == unpack("<I", chunk, size - 4)[0] \
                        and unpack("<I", chunk, 0)[0] == i:  # fmt: skip
                    out.append(bytes(chunk[4:-4]))
                    continue
                try:
                    if len(chunk) != size:
                        raise FormatError(f"{self.name}: frame {i} is truncated", frame=i)
                    self._check(i, chunk)
                    out.append(bytes(chunk[4:-4]))  # pragma: no cover - the fast checks above passed it
                except FormatError as exc:
                    out.append(exc)
        for i in range(max(first, avail), last):
            out.append(FormatError(f"{self.name}: frame {i} is missing ({self.problem})", frame=i))
        return out

    def trailing_bytes(self) -> int:
        """Bytes after the last frame (and the index) that belong to no frame."""
        h = self.header
        if self.n_available < self.n_frames:
            return 0
        end = h.frames_end if (h.fixed_size and not h.unfinished) else None
        if end is None:
            return 0
        return max(0, self.size - end)

    def close(self) -> None:
        if self._owned:
            self._f.close()
