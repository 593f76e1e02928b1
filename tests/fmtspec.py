"""An independent, minimal model of the .tqa format, and a structure-aware fuzzer on it.

Written from the format description in the docstrings of ``tqa/container.py`` (header,
profile 0 frames and block records, profile 1 frames and the VBR index) and
``tqa/spectral.py`` (band scales), *not* from the library's parsing code: nothing
here imports ``tqa.container``, ``tqa.fuzz`` or the codec modules.  A shared
misunderstanding of the format between reader and fuzzer is therefore unlikely.
The library is used only through its public API (``tqa.encode`` to make seed
streams, ``tqa.decode``/``info``/``verify``/``Decoder`` as the system under test).

Parts:

* **spec**: field tables, geometry (frame count, sizes, offsets) and ``spec_problems``,
  a checker of what the spec says a conforming stream is;
* **model/builder/parser**: :class:`Stream` (header fields, frames, VBR index,
  trailing bytes), :func:`build` (CRCs recomputed unless overridden, so hostile
  fields sit under valid CRCs) and :func:`parse` (bytes of a conforming stream to a
  :class:`Stream`);
* **mutators**: header fields at 0/max/random/boundaries, side info (scale codes,
  modes, QJL gains; spectral flags, scale codes and deltas), VBR index entries,
  truncation at and between frame boundaries, insertion, duplication, swapping and
  deletion of frames, appended bytes; plus synthetic streams built from fields;
* **oracle/campaign**: :func:`check_case` runs every entry point on one input with
  per-call time and memory (tracemalloc) limits and returns the violations;
  :func:`campaign` runs seeded cases in forked worker processes under an address
  space cap (RLIMIT_AS), with a watchdog for hangs.

Used by tests/test_fuzz_structured.py, tests/test_hardening.py and
tools/fuzz_campaign.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import struct
import time
import tracemalloc
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

# =====================================================================================
# spec
# =====================================================================================
MAGIC = b"TQAF"
INDEX_MAGIC = b"TQAX"
VERSION = 1
BASE_HEADER = 44  # 40 bytes of fields, then the CRC
MAX_HEADER = 4096

COMMON_FIELDS = [  # (name, offset, struct code)
    ("magic", 0, "4s"), ("version", 4, "B"), ("profile", 5, "B"), ("header_size", 6, "H"),
    ("sample_rate", 8, "I"), ("channels", 12, "H"), ("source_format", 14, "B"), ("flags", 15, "B"),
    ("n", 16, "Q"),
]  # fmt: skip
TIME_FIELDS = COMMON_FIELDS + [
    ("log_block", 24, "B"), ("bits", 25, "B"), ("residual", 26, "B"), ("reserved", 27, "B"),
    ("qjl_rows", 28, "H"), ("frame_blocks", 30, "H"), ("seed", 32, "Q"),
]  # fmt: skip
SPECTRAL_FIELDS = COMMON_FIELDS + [
    ("log_hop", 24, "B"), ("band", 25, "B"), ("rate_mode", 26, "B"), ("reserved", 27, "B"),
    ("rate_milli", 28, "I"), ("seed", 32, "Q"),
]  # fmt: skip
SPECTRAL2_FIELDS = COMMON_FIELDS + [
    ("log_hop", 24, "B"), ("s2_flags", 25, "B"), ("stereo", 26, "B"), ("rate_mode", 27, "B"),
    ("rate_milli", 28, "I"), ("seed", 32, "Q"),
]  # fmt: skip
FIELDS = {0: TIME_FIELDS, 1: SPECTRAL_FIELDS, 2: SPECTRAL2_FIELDS}

# Ranges the spec gives (inclusive); used to check and to pick boundary values.
RANGES = {
    "version": (1, 1), "profile": (0, 2), "header_size": (44, 4096), "sample_rate": (1, 2**31 - 1),
    "channels": (1, 4096), "source_format": (1, 7), "flags": (0, 0), "n": (0, 2**48),
    "log_block": (6, 13), "bits": (1, 8), "residual": (0, 2), "reserved": (0, 0), "qjl_rows": (0, 8192),
    "frame_blocks": (1, 4096), "seed": (0, 2**64 - 1),
    "log_hop": (8, 11), "band": (16, 16), "rate_mode": (0, 1), "s2_flags": (0, 15), "stereo": (0, 2),
    "rate_milli": (500, 16000),  # CBR: rate 0.5 .. 16 bits per sample (tqa.spectral); VBR: quality below
}  # fmt: skip
QUALITY_MILLI = (1000, 120000)  # VBR quality 1 .. 120 dB

# Profile 0 side info (tqa.container / tqa.blockcodec docs): u16 side = k | mode << 12, bits 14-15 zero;
# scale code k: 12-bit log code, 2**((k - 1024)/16); the largest an encoder writes: sigma <= 2**40 in
# identity mode (k <= 1024 + 16*41 = 1680), 2**33.5 with a rotation (k <= 1680 - 112 = 1568).
# QJL gain code: bits 12-15 zero, documented bound gain <= k + 32 (alpha <= 4 sigma).
SCALE_LIMIT_ROTATED, SCALE_LIMIT_IDENTITY, QJL_SLACK = 1568, 1680, 32
# Profile 1: 7-bit first scale code, 5-bit two's complement deltas, band of 16, up to 14 bits a coefficient.
SCALE_BITS, DELTA_BITS, BAND = 7, 5, 16
RESIDUALS = ("none", "sign", "qjl")

# Header extension (tqa/format.py): b"TQAM", then records u8 type, u16 length, bytes; a malformed
# record ends the metadata; type 3 = the profile's data (the last one counts).
META_MAGIC, META_PROFILE_DATA, META_TAG = b"TQAM", 3, 1
# Profile 2 (spectral2, tqa/sv2 and tqa/format.py): at most 255 channels; the profile data is the
# stream's parameters, "<4sBBBHIQQd" = magic b"TQS2", version 1, flags, channels, hop, sample
# rate, n, seed, quantizer step (then bit-packed entropy tables); channels, hop and n equal the
# header's; 2**-64 <= step <= 2**40.  Frames: one per hop (at least one), always a VBR index;
# payload = header byte (bits 0..4 only: bit 0 short, bits 1/2 left/right overlap short, 3 M/S,
# 4 silence map; a short frame's overlaps are short, and a boundary's overlap is short in both
# frames or in neither), 8 step refinements 0..40 when bit 0 is set, then the coded data; a
# coefficient beyond 2**35 is refused.
S2_MAGIC, S2_VERSION, S2_HOPS, S2_MAX_CHANNELS = b"TQS2", 1, (256, 512, 1024, 2048), 255
S2_HEAD = struct.Struct("<4sBBBHIQQd")
S2_STEP_RANGE, S2_EMAX, S2_SHORT = (2.0**-64, 2.0**40), 40, 8


class SpecError(ValueError):
    """Bytes that this model cannot read as a conforming stream."""


def header_fields(data: bytes) -> dict:
    """Every header field of the profile named at byte 5 (no validation)."""
    if len(data) < 40:
        raise SpecError("shorter than the fixed header fields")
    profile = data[5]
    out = {name: struct.unpack_from("<" + code, data, off)[0] for name, off, code in FIELDS.get(profile, TIME_FIELDS)}
    return out


# -- geometry ------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeGeometry:
    channels: int
    n: int
    block: int  # N
    bits: int
    residual: int
    qjl_rows: int
    frame_blocks: int  # F
    header_size: int

    @property
    def side_bytes(self) -> int:
        return 4 if self.residual == 2 else 2

    @property
    def record_bytes(self) -> int:
        res = {0: 0, 1: self.block // 8, 2: self.qjl_rows // 8}[self.residual]
        return self.side_bytes + self.block * self.bits // 8 + res

    @property
    def frame_samples(self) -> int:
        return self.block * self.frame_blocks

    @property
    def n_frames(self) -> int:
        return -(-self.n // self.frame_samples)

    def blocks_of(self, i: int) -> int:
        return min(self.frame_blocks, -(-(self.n - i * self.frame_samples) // self.block))

    def frame_size(self, i: int) -> int:
        return 8 + self.channels * self.blocks_of(i) * self.record_bytes

    def frame_offset(self, i: int) -> int:
        return self.header_size + i * self.frame_size(0)

    @property
    def file_size(self) -> int:
        nf = self.n_frames
        return self.header_size if nf == 0 else self.frame_offset(nf - 1) + self.frame_size(nf - 1)


@dataclass(frozen=True)
class SpectralGeometry:
    channels: int
    n: int
    hop: int
    vbr: bool
    rate_milli: int
    header_size: int

    @property
    def bands(self) -> int:
        return self.hop // BAND

    @property
    def scale_bytes(self) -> int:
        return -(-(SCALE_BITS + DELTA_BITS * (self.bands - 1)) // 8)

    @property
    def head_bytes(self) -> int:
        """flags + every channel's scales (after the u32 index)."""
        return 1 + self.channels * self.scale_bytes

    @property
    def n_frames(self) -> int:
        return -(-self.n // self.hop) + 1

    @property
    def cbr_frame_size(self) -> int:
        # ceil(rate * hop * channels / 8) with rate = rate_milli / 1000, in exact integers
        return -(-self.rate_milli * self.hop * self.channels // 8000)


@dataclass(frozen=True)
class Spectral2Geometry:
    channels: int
    n: int
    hop: int
    header_size: int
    vbr: bool = True  # always an index

    @property
    def n_frames(self) -> int:
        return max(1, -(-self.n // self.hop))


def records(extra: bytes) -> list[tuple[int, bytes]]:
    """The metadata records of a header extension (empty without the magic)."""
    out = []
    if not extra.startswith(META_MAGIC):
        return out
    pos = len(META_MAGIC)
    while pos + 3 <= len(extra):
        kind, length = struct.unpack_from("<BH", extra, pos)
        body = extra[pos + 3 : pos + 3 + length]
        if len(body) != length:
            break
        out.append((kind, bytes(body)))
        pos += 3 + length
    return out


def pack_records(recs: list[tuple[int, bytes]]) -> bytes:
    return META_MAGIC + b"".join(struct.pack("<BH", k, len(b)) + b for k, b in recs)


def s2_params(extra: bytes) -> bytes | None:
    """Profile 2's parameters: the last profile-data record (None: there is none)."""
    found = [b for k, b in records(extra) if k == META_PROFILE_DATA]
    return found[-1] if found else None


def s2_param_problems(h: dict, extra: bytes) -> list[str]:
    p = s2_params(extra)
    if p is None:
        return ["no spectral2 parameters"]
    if len(p) < S2_HEAD.size:
        return ["spectral2 parameters too short"]
    magic, ver, _flags, ch, hop, _sr, n, _seed, step = S2_HEAD.unpack_from(p)
    bad = []
    if magic != S2_MAGIC or ver != S2_VERSION:
        bad.append("parameters magic/version")
    if hop not in S2_HOPS or not 1 <= ch <= S2_MAX_CHANNELS:
        bad.append("parameters hop/channels")
    if not S2_STEP_RANGE[0] <= step <= S2_STEP_RANGE[1]:
        bad.append(f"step {step!r}")
    if (ch, hop, n) != (h["channels"], 1 << h["log_hop"], h["n"]):
        bad.append("parameters disagree with the header")
    return bad


def geometry(h: dict):
    if h["profile"] == 2:
        return Spectral2Geometry(h["channels"], h["n"], 1 << h["log_hop"], h["header_size"])
    if h["profile"] == 1:
        return SpectralGeometry(h["channels"], h["n"], 1 << h["log_hop"], h["rate_mode"] == 1, h["rate_milli"], h["header_size"])
    return TimeGeometry(h["channels"], h["n"], 1 << min(h["log_block"], 30), h["bits"], h["residual"], h["qjl_rows"],
                        h["frame_blocks"], h["header_size"])  # fmt: skip


def header_problems(data: bytes) -> list[str]:
    """What the spec says is wrong with a stream's header (empty: conforming)."""
    if len(data) < 8 or data[:4] != MAGIC:
        return ["magic"]
    hs = struct.unpack_from("<H", data, 6)[0]
    if not 44 <= hs <= MAX_HEADER:
        return ["header_size"]
    if len(data) < hs:
        return ["truncated header"]
    if zlib.crc32(data[: hs - 4]) != struct.unpack_from("<I", data, hs - 4)[0]:
        return ["header crc"]
    h = header_fields(data)
    bad = []
    for name, _, code in FIELDS.get(h["profile"], TIME_FIELDS):
        if name in RANGES and name != "rate_milli":
            lo, hi = RANGES[name]
            if not lo <= h[name] <= hi:
                bad.append(name)
    if bad:
        return bad
    if h["profile"] == 0:
        n_block = 1 << h["log_block"]
        if h["residual"] == 2 and not (8 <= h["qjl_rows"] <= n_block and h["qjl_rows"] % 8 == 0):
            bad.append("qjl_rows")
        if h["residual"] != 2 and h["qjl_rows"] != 0:
            bad.append("qjl_rows")
        g = geometry(h)
        if g.n_frames > 2**32 - 1:
            bad.append("frame count")
    elif h["profile"] == 2:
        if h["channels"] > S2_MAX_CHANNELS:
            bad.append("channels")
        if geometry(h).n_frames > 2**32 - 1:
            bad.append("frame count")
        if not bad:
            bad += s2_param_problems(h, bytes(data[40 : hs - 4]))
    else:
        lo, hi = QUALITY_MILLI if h["rate_mode"] == 1 else RANGES["rate_milli"]
        if not lo <= h["rate_milli"] <= hi:
            bad.append("rate_milli")
        if geometry(h).n_frames > 2**32 - 1:
            bad.append("frame count")
    return bad


# =====================================================================================
# model, builder, parser
# =====================================================================================
@dataclass
class Frame:
    index: int
    body: bytes  # between the u32 index and the CRC
    crc: int | None = None  # None: computed by build()

    def pack(self) -> bytes:
        b = struct.pack("<I", self.index & 0xFFFFFFFF) + self.body
        return b + struct.pack("<I", zlib.crc32(b) if self.crc is None else self.crc & 0xFFFFFFFF)


@dataclass
class Stream:
    """A stream as fields.  ``header`` holds every field by name (see FIELDS)."""

    header: dict
    frames: list[Frame]
    header_extra: bytes = b""  # bytes between the profile fields and the header CRC
    header_crc: int | None = None
    index: list[int] | None = None  # VBR frame offsets (n_frames + 1); None: computed
    index_pos: int | None = None  # the u64 after the offsets; None: computed
    index_magic: bytes = INDEX_MAGIC
    with_index: bool | None = None  # None: when the header says VBR
    trailer: bytes = b""  # appended after everything

    @property
    def profile(self) -> int:
        return self.header["profile"]

    def copy(self) -> "Stream":
        return dataclasses.replace(self, header=dict(self.header), frames=[dataclasses.replace(f) for f in self.frames],
                                   index=None if self.index is None else list(self.index))  # fmt: skip

    def geometry(self):
        return geometry(self.header)


def pack_header(h: dict, extra: bytes = b"", crc: int | None = None, header_size: int | None = None) -> bytes:
    """Header bytes: fields, ``extra``, CRC.  ``header_size`` (the field) defaults to the real length."""
    h = dict(h)
    if header_size is None and h.get("header_size") is None:
        h["header_size"] = BASE_HEADER + len(extra)
    buf = bytearray(40)
    for name, off, code in FIELDS[h["profile"] if h["profile"] in FIELDS else 0]:
        v = h[name]
        if code != "4s":
            v &= (1 << (8 * struct.calcsize(code))) - 1
        struct.pack_into("<" + code, buf, off, v)
    buf += extra
    buf += struct.pack("<I", zlib.crc32(buf) if crc is None else crc)
    return bytes(buf)


def build(s: Stream) -> bytes:
    """The bytes of ``s``; CRCs and the VBR index are computed unless set explicitly."""
    head = pack_header(s.header, s.header_extra, s.header_crc)
    parts = [head]
    offsets = [len(head)]
    for f in s.frames:
        b = f.pack()
        parts.append(b)
        offsets.append(offsets[-1] + len(b))
    with_index = s.with_index if s.with_index is not None else (s.profile == 2 or (s.profile == 1 and s.header.get("rate_mode") == 1))
    if with_index:
        idx = offsets if s.index is None else s.index
        pos = offsets[-1] if s.index_pos is None else s.index_pos
        parts.append(b"".join(struct.pack("<Q", v & (2**64 - 1)) for v in idx))
        parts.append(struct.pack("<Q", pos & (2**64 - 1)) + s.index_magic)
    parts.append(s.trailer)
    return b"".join(parts)


def reseal_header(d: bytearray) -> bytearray:
    """Recompute the header CRC where the header_size field puts it (if inside the data)."""
    if len(d) >= 8:
        hs = struct.unpack_from("<H", d, 6)[0]
        if 8 <= hs - 4 and hs <= len(d):
            struct.pack_into("<I", d, hs - 4, zlib.crc32(bytes(d[: hs - 4])))
    return d


def parse(data: bytes) -> Stream:
    """A conforming stream's bytes as a :class:`Stream` (SpecError if it is not one)."""
    bad = header_problems(data)
    if bad:
        raise SpecError(f"header: {bad}")
    h = header_fields(data)
    hs = h["header_size"]
    g = geometry(h)
    extra = bytes(data[40 : hs - 4])
    frames = []
    if h["profile"] == 0:
        spans = [(g.frame_offset(i), g.frame_size(i)) for i in range(g.n_frames)]
        end = g.file_size
    elif not g.vbr:
        spans = [(hs + i * g.cbr_frame_size, g.cbr_frame_size) for i in range(g.n_frames)]
        end = hs + g.n_frames * g.cbr_frame_size
    else:
        if len(data) < hs + 8 * (g.n_frames + 1) + 12 or data[-4:] != INDEX_MAGIC:
            raise SpecError("no VBR index")
        pos = struct.unpack_from("<Q", data, len(data) - 12)[0]
        if pos != len(data) - 12 - 8 * (g.n_frames + 1):
            raise SpecError("VBR index position")
        idx = [struct.unpack_from("<Q", data, pos + 8 * i)[0] for i in range(g.n_frames + 1)]
        if idx[0] != hs or idx[-1] != pos or any(b - a < 9 for a, b in zip(idx, idx[1:])):
            raise SpecError("VBR index entries")
        spans = [(a, b - a) for a, b in zip(idx, idx[1:])]
        end = len(data)
    if len(data) < end:
        raise SpecError("truncated")
    for i, (off, size) in enumerate(spans):
        raw = data[off : off + size]
        if zlib.crc32(raw[:-4]) != struct.unpack_from("<I", raw, size - 4)[0]:
            raise SpecError(f"frame {i} crc")
        index = struct.unpack_from("<I", raw, 0)[0]
        if index != i:
            raise SpecError(f"frame {i} index {index}")
        frames.append(Frame(index, bytes(raw[4:-4])))
    trailer = b"" if (h["profile"] != 0 and g.vbr) else bytes(data[end:])
    return Stream(h, frames, extra, trailer=trailer)


# -- side info -----------------------------------------------------------------------
def time_side(s: Stream, frame: int, c: int, b: int) -> tuple[int, int, int | None]:
    """(scale code k, mode, QJL gain or None) of block b of channel c in a frame (reserved bits in k's high bits)."""
    g = s.geometry()
    off = (c * g.blocks_of(frame) + b) * g.record_bytes
    body = s.frames[frame].body
    side = struct.unpack_from("<H", body, off)[0]
    gain = struct.unpack_from("<H", body, off + 2)[0] if g.residual == 2 else None
    return side & 0xFFF, side >> 12, gain


def set_time_side(s: Stream, frame: int, c: int, b: int, k=None, mode=None, gain=None, raw_side=None) -> None:
    g = s.geometry()
    off = (c * g.blocks_of(frame) + b) * g.record_bytes
    body = bytearray(s.frames[frame].body)
    side = struct.unpack_from("<H", body, off)[0]
    if raw_side is not None:
        side = raw_side & 0xFFFF
    if k is not None:
        side = (side & 0xF000) | (k & 0xFFF)
    if mode is not None:
        side = (side & 0x0FFF) | ((mode & 0xF) << 12)
    struct.pack_into("<H", body, off, side)
    if gain is not None and g.residual == 2:
        struct.pack_into("<H", body, off + 2, gain & 0xFFFF)
    s.frames[frame].body = bytes(body)
    s.frames[frame].crc = None


def _bits_of(data: bytes, nbits: int) -> list[int]:
    out = []
    for byte in data:
        out.extend((byte >> (7 - i)) & 1 for i in range(8))
    return out[:nbits]


def _bytes_of(bits: list[int], nbytes: int) -> bytes:
    bits = bits + [0] * (8 * nbytes - len(bits))
    return bytes(sum(bit << (7 - i) for i, bit in enumerate(bits[k : k + 8])) for k in range(0, 8 * nbytes, 8))


def spectral_scales(s: Stream, frame: int) -> tuple[int, list[list[int]]]:
    """(flags, per channel the band scale codes) of a spectral frame."""
    g = s.geometry()
    body = s.frames[frame].body
    flags = body[0]
    out = []
    for c in range(g.channels):
        raw = body[1 + c * g.scale_bytes : 1 + (c + 1) * g.scale_bytes]
        bits = _bits_of(raw, SCALE_BITS + DELTA_BITS * (g.bands - 1))
        j = [int("".join(map(str, bits[:SCALE_BITS])), 2)]
        for b in range(g.bands - 1):
            d = int("".join(map(str, bits[SCALE_BITS + DELTA_BITS * b : SCALE_BITS + DELTA_BITS * (b + 1)])), 2)
            j.append(j[-1] + (d - 32 if d >= 16 else d))
        out.append(j)
    return flags, out


def set_spectral_scales(s: Stream, frame: int, c: int, first: int, deltas: list[int]) -> None:
    """Write channel c's raw scale fields: 7-bit first code, 5-bit deltas (taken mod 32)."""
    g = s.geometry()
    bits = [(first >> (SCALE_BITS - 1 - i)) & 1 for i in range(SCALE_BITS)]
    for d in deltas:
        bits += [((d & 31) >> (DELTA_BITS - 1 - i)) & 1 for i in range(DELTA_BITS)]
    raw = _bytes_of(bits, g.scale_bytes)
    body = bytearray(s.frames[frame].body)
    body[1 + c * g.scale_bytes : 1 + (c + 1) * g.scale_bytes] = raw
    s.frames[frame].body = bytes(body)
    s.frames[frame].crc = None


def set_codes(s: Stream, frame: int, codes: list[int]) -> None:
    """Set a spectral frame's band scale codes of every channel to ``codes`` (clipped to valid deltas)."""
    g = s.geometry()
    for c in range(g.channels):
        deltas = [max(-16, min(15, b - a)) for a, b in zip(codes, codes[1:])]
        set_spectral_scales(s, frame, c, codes[0], deltas)


def spec_problems(data: bytes) -> list[str]:
    """Everything the spec forbids in ``data`` (empty: a conforming stream per this model).

    Checks header, sizes, CRCs, indices, VBR index, block side-info bits and limits
    (profile 0), flags and scale range 0..127 (profile 1).  Value-dependent limits
    not in the format description (e.g. QJL correction range) are not modelled.
    """
    try:
        s = parse(data)
    except SpecError as exc:
        return [str(exc)]
    g = s.geometry()
    bad = []
    for i, f in enumerate(s.frames):
        if s.profile == 2:
            b = f.body
            if not b or b[0] > 31:
                bad.append(f"frame {i}: header byte")
            elif b[0] & 1 and (len(b) < 1 + S2_SHORT or max(b[1 : 1 + S2_SHORT]) > S2_EMAX):
                bad.append(f"frame {i}: step refinements")
            elif i and s.frames[i - 1].body and s.frames[i - 1].body[0] <= 31:
                prev = s.frames[i - 1].body[0]  # a boundary's overlap is short in both frames or in neither
                if bool(prev & 1 or prev & 4) != bool(b[0] & 1 or b[0] & 2):
                    bad.append(f"frame {i}: overlap disagrees with frame {i - 1}")
        elif s.profile == 0:
            for c in range(g.channels):
                for b in range(g.blocks_of(i)):
                    k, mode, gain = time_side(s, i, c, b)
                    if mode > 3:
                        bad.append(f"frame {i}: side reserved bits")
                    elif k > (SCALE_LIMIT_IDENTITY if mode == 3 else SCALE_LIMIT_ROTATED):
                        bad.append(f"frame {i}: scale code {k}")
                    elif gain is not None and (gain > 0xFFF or gain > k + QJL_SLACK):
                        bad.append(f"frame {i}: QJL gain {gain}")
        else:
            if len(f.body) < g.head_bytes:
                bad.append(f"frame {i}: too short")
                continue
            flags, scales = spectral_scales(s, i)
            if flags > 1:
                bad.append(f"frame {i}: flags {flags}")
            if any(not 0 <= j <= 127 for ch in scales for j in ch):
                bad.append(f"frame {i}: scale out of 0..127")
            if not g.vbr and len(f.body) + 8 != g.cbr_frame_size:
                bad.append(f"frame {i}: size")
    return bad


# =====================================================================================
# seeds and synthetic streams
# =====================================================================================
def seed_streams() -> dict[str, bytes]:
    """Small valid streams of both profiles (made with tqa.encode; only the API is used)."""
    import tqa

    rng = np.random.default_rng(14)
    x = rng.normal(0, 0.2, (300, 2)).astype(np.float32)
    x[64:128] = 0  # a silent block
    x[200, 0] = 3.0  # a spike
    out = {
        "time-sign-2ch": tqa.encode(x, 8000, block_size=64, bits=3, frame_samples=64),
        "time-none-1ch": tqa.encode(x[:, :1], 8000, residual="none", block_size=64, bits=2, frame_samples=128),
        "time-qjl-2ch": tqa.encode(x, 8000, residual="qjl", qjl_rows=32, block_size=64, bits=4, frame_samples=64),
        "spectral-cbr-2ch": tqa.encode(x, 8000, profile="spectral", hop=256, rate=3.0),
        "spectral-cbr-1ch": tqa.encode(x[:, :1], 8000, profile="spectral", hop=256, rate=6.0),
        "spectral-vbr-1ch": tqa.encode(x[:, :1], 8000, profile="spectral", hop=256, quality=30),
        "spectral-vbr-2ch": tqa.encode(x, 8000, profile="spectral", hop=256, quality=20),
    }
    # profile 2: long enough for several frames, an attack (short blocks, step refinements),
    # digital silence (silence maps), M/S and L/R stereo, rate and quality modes, a rotation
    y = rng.normal(0, 0.05, (2400, 2)) * np.hanning(2400)[:, None]
    y[1500:1540] += 0.9 * np.sign(rng.normal(size=(40, 1)))
    y[300:900] = 0
    y = y.astype(np.float32)
    out.update({
        "spectral2-rate-2ch": tqa.encode(y, 8000, profile="spectral2", hop=256, rate=3.0),
        "spectral2-quality-1ch": tqa.encode(y[:, :1], 8000, profile="spectral2", hop=512, quality=25),
        "spectral2-lr-rotate": tqa.encode(y, 8000, profile="spectral2", hop=256, rate=5.0, stereo="lr", rotate=True),
    })  # fmt: skip
    return out


def warm_up(seeds: dict[str, bytes] | None = None) -> None:
    """Import and initialise every engine and both profiles' decoders (so no case pays for it)."""
    import tqa

    for data in (seed_streams() if seeds is None else seeds).values():
        tqa.verify(data)
        tqa.info(data)
        for e in _engines():
            tqa.decode(data, engine=e)
        tqa.decode(data, on_error="silence")


def synth_time(rng: np.random.Generator) -> Stream:
    """A profile-0 stream built from random valid fields, random codes and in-range side info."""
    log_block = 6 + int(rng.integers(2))
    n_block = 1 << log_block
    residual = int(rng.integers(3))
    h = {"magic": MAGIC, "version": 1, "profile": 0, "header_size": None, "sample_rate": int(rng.integers(1, 200000)),
         "channels": int(rng.integers(1, 4)), "source_format": int(rng.integers(1, 8)), "flags": 0,
         "n": int(rng.integers(0, 4 * n_block)), "log_block": log_block, "bits": int(rng.integers(1, 9)),
         "residual": residual, "reserved": 0, "qjl_rows": 8 * int(rng.integers(1, n_block // 8 + 1)) if residual == 2 else 0,
         "frame_blocks": int(rng.integers(1, 3)), "seed": int(rng.integers(0, 2**63))}  # fmt: skip
    extra = rng.integers(0, 256, int(rng.choice([0, 0, 0, 4, 60])), dtype=np.uint8).tobytes()
    h["header_size"] = BASE_HEADER + len(extra)
    g = geometry(h)
    frames = []
    for i in range(g.n_frames):
        body = bytearray(rng.integers(0, 256, g.channels * g.blocks_of(i) * g.record_bytes, dtype=np.uint8).tobytes())
        for r in range(g.channels * g.blocks_of(i)):
            mode = int(rng.integers(4))
            k = int(rng.integers(0, (SCALE_LIMIT_IDENTITY if mode == 3 else SCALE_LIMIT_ROTATED) + 1))
            if rng.random() < 0.5:
                k = int(rng.integers(900, 1200))  # ordinary magnitudes
            struct.pack_into("<H", body, r * g.record_bytes, k | (mode << 12))
            if residual == 2:
                struct.pack_into("<H", body, r * g.record_bytes + 2, int(rng.integers(0, min(0xFFF, k + QJL_SLACK) + 1)))
        frames.append(Frame(i, bytes(body)))
    return Stream(h, frames, extra)


def synth_spectral(rng: np.random.Generator) -> Stream:
    """A profile-1 stream (CBR or VBR) from random valid fields, scales in 0..127 and random band codes."""
    vbr = bool(rng.integers(2))
    log_hop = 8 + int(rng.integers(2))
    hop = 1 << log_hop
    channels = int(rng.integers(1, 4))
    value = int(rng.integers(1000, 60000)) if vbr else int(rng.integers(500, 16001))
    h = {"magic": MAGIC, "version": 1, "profile": 1, "header_size": BASE_HEADER, "sample_rate": int(rng.integers(1, 200000)),
         "channels": channels, "source_format": int(rng.integers(1, 8)), "flags": 0, "n": int(rng.integers(0, 3 * hop)),
         "log_hop": log_hop, "band": 16, "rate_mode": int(vbr), "reserved": 0, "rate_milli": value,
         "seed": int(rng.integers(0, 2**63))}  # fmt: skip
    g = geometry(h)
    s = Stream(h, [])
    top = int(rng.choice([40, 60, 66]))  # what a conforming encoder writes (see test_hardening); mutators go higher
    for i in range(g.n_frames):
        size = (g.head_bytes + int(rng.integers(0, 300))) if vbr else max(g.cbr_frame_size - 8, g.head_bytes)
        body = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        body[0] = int(rng.integers(2))
        s.frames.append(Frame(i, bytes(body)))
        for c in range(channels):
            first = int(rng.integers(0, top + 1))
            j, deltas = first, []
            for _ in range(g.bands - 1):
                d = int(rng.integers(-16, 16))
                d = max(-j, min(top - j, d))
                deltas.append(d)
                j += d
            set_spectral_scales(s, i, c, first, deltas)
    if not vbr and g.cbr_frame_size - 8 < g.head_bytes:
        pass  # a rate too low for the side info: every frame is malformed (a reader must say so)
    return s


# =====================================================================================
# mutators
# =====================================================================================
def _field_value(rng, name: str, code: str, current: int) -> tuple[int, str]:
    bits = 8 * struct.calcsize(code)
    top = (1 << bits) - 1
    choices = ["zero", "max", "random", "lo", "hi", "lo-1", "hi+1", "+1", "-1"]
    how = str(rng.choice(choices))
    lo, hi = RANGES.get(name, (0, top))
    if name == "rate_milli" and rng.random() < 0.5:
        lo, hi = QUALITY_MILLI
    v = {"zero": 0, "max": top, "random": int(rng.integers(0, 1 << min(bits, 63))), "lo": lo, "hi": hi,
         "lo-1": lo - 1, "hi+1": hi + 1, "+1": current + 1, "-1": current - 1}[how]  # fmt: skip
    return v & top, how


def mutate_geometry(s: Stream, rng) -> tuple[bytes, str]:
    """Every size field large at once (a header declaring huge frames), resealed: F1/F2's kind of file."""
    h = dict(s.header)
    if s.profile == 0:
        h.update(channels=int(rng.choice([2, 64, 4096])), log_block=int(rng.choice([12, 13])), bits=8,
                 residual=1, qjl_rows=0, frame_blocks=int(rng.choice([1, 64, 4096])))  # fmt: skip
        g = geometry(h)
        h["n"] = int(rng.choice([1, g.frame_samples, 2 * g.frame_samples + 1, 2**40, 2**48]))
    else:
        h.update(channels=int(rng.choice([2, 64, 4096])), log_hop=11, rate_mode=int(rng.integers(2)))
        h["rate_milli"] = 16000 if h["rate_mode"] == 0 else 120000
        h["n"] = int(rng.choice([1, 2048, 2**20, 2**40]))
    if geometry(h).n_frames > 2**32 - 1:
        h["n"] = geometry(h).frame_samples if s.profile == 0 else 2048
    keep = int(rng.choice([0, 0, 100, 10000]))  # bytes of frame data kept after the header
    data = pack_header(h, s.header_extra) + build(s)[len(pack_header(s.header, s.header_extra)) :][:keep]
    return data, f"huge geometry {h['channels']}ch n={h['n']}, {keep} frame bytes"


def mutate_header(s: Stream, rng) -> tuple[bytes, str]:
    if rng.random() < 0.15:
        return mutate_geometry(s, rng)
    fields = [f for f in FIELDS[s.profile] if f[0] != "magic"]
    name, off, code = fields[int(rng.integers(len(fields)))]
    v, how = _field_value(rng, name, code, s.header[name])
    if name == "n" and rng.random() < 0.5:  # sizes that matter for geometry: frame boundaries, huge counts
        g = s.geometry()
        unit = g.frame_samples if s.profile == 0 else g.hop
        v = int(rng.choice([2**40, 2**48, 2**32 * unit, (2**32 - 2) * unit, 2**31 * unit, 2**36,
                            unit * int(rng.integers(1, 9)) + int(rng.integers(-1, 2)), s.header["n"] * 2,
                            s.header["n"] + 1]))  # fmt: skip
        v = max(v, 0)
        how = "geometry"
    d = bytearray(build(s))
    struct.pack_into("<" + code, d, off, v)
    sealed = rng.random() < 0.9
    if sealed:
        reseal_header(d)
    return bytes(d), f"header {name}={v} ({how}{', resealed' if sealed else ''})"


def mutate_header_extension(s: Stream, rng) -> tuple[bytes, str]:
    """A conforming change: extra header bytes (44 < H <= 4096); must decode exactly as the original."""
    t = s.copy()
    n = int(rng.choice([1, 4, 100, MAX_HEADER - BASE_HEADER]))
    t.header_extra = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    t.header["header_size"] = BASE_HEADER + n
    t.index = None
    return build(t), f"header extension +{n} (equivalent)"


def mutate_s2_extension(s: Stream, rng) -> tuple[bytes, str]:
    """Conforming changes around profile 2's parameters (tags, unknown record types, bytes after a
    malformed record): must decode exactly as the original."""
    t = s.copy()
    recs = records(t.header_extra)
    what = int(rng.integers(3))
    if what == 0:
        pos = int(rng.integers(len(recs) + 1))
        recs.insert(pos, (META_TAG, b"TITLE=" + rng.integers(65, 91, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()))
        desc = f"tag record at {pos}"
    elif what == 1:
        pos = int(rng.integers(len(recs) + 1))
        recs.insert(pos, (int(rng.choice([0, 4, 9, 200, 255])), rng.integers(0, 256, int(rng.integers(0, 50)), dtype=np.uint8).tobytes()))
        desc = f"unknown record type at {pos}"
    extra = pack_records(recs)
    if what == 2:  # a record whose length runs past the extension ends the metadata
        extra += struct.pack("<BH", META_PROFILE_DATA, 4000) + rng.integers(0, 256, 20, dtype=np.uint8).tobytes()
        desc = "truncated record after the parameters"
    if BASE_HEADER + len(extra) > MAX_HEADER:
        return build(s), "extension unchanged (too long)"
    t.header_extra = extra
    t.header["header_size"] = BASE_HEADER + len(extra)
    t.index = None
    return build(t), f"{desc} (equivalent)"


def _s2_with_params(t: Stream, params: bytes | None, dup: bytes | None = None) -> None:
    recs = [(k, b) for k, b in records(t.header_extra) if k != META_PROFILE_DATA]
    if params is not None:
        recs.append((META_PROFILE_DATA, params))
    if dup is not None:
        recs.append((META_PROFILE_DATA, dup))
    t.header_extra = pack_records(recs)
    t.header["header_size"] = BASE_HEADER + len(t.header_extra)
    t.index = None


def mutate_s2_params(s: Stream, rng) -> tuple[bytes, str]:
    """Profile 2's parameters: head fields at hostile values, table bits, truncation, removal,
    a second record (the last counts), all under a valid header CRC."""
    t = s.copy()
    p = bytearray(s2_params(t.header_extra) or b"")
    if len(p) < S2_HEAD.size:
        return build(t), "no parameters to mutate"
    names = ["magic", "version", "flags", "channels", "hop", "sample_rate", "n", "seed", "step"]
    head = list(S2_HEAD.unpack_from(p))
    what = int(rng.integers(6))
    if what <= 1:  # the step: the magnitude field
        v = float(rng.choice([0.0, -1.0, float("nan"), float("inf"), 5e-324, 2.0**-65, 2.0**-64, 2.0**40,
                              2.0**40 * (1 + 2**-52), 1e300, head[8] * 2.0 ** int(rng.integers(-30, 31))]))  # fmt: skip
        head[8] = v
        S2_HEAD.pack_into(p, 0, *head)
        desc = f"step={v!r}"
    elif what == 2:
        k = int(rng.integers(1, 8))
        top = {1: 255, 2: 255, 3: 255, 4: 65535, 5: 2**32 - 1, 6: 2**64 - 1, 7: 2**64 - 1}[k]
        v = [0, 1, top, head[k] + 1, max(head[k] - 1, 0), int(rng.integers(0, min(top, 2**62)))][int(rng.integers(6))] & top
        head[k] = v
        S2_HEAD.pack_into(p, 0, *head)
        desc = f"{names[k]}={v}"
    elif what == 3:  # bits of the entropy tables
        for _ in range(int(rng.integers(1, 5))):
            if len(p) > S2_HEAD.size:
                j = int(rng.integers(S2_HEAD.size, len(p)))
                p[j] = int(rng.integers(256)) if rng.random() < 0.5 else p[j] ^ (1 << int(rng.integers(8)))
        desc = "table bits"
    elif what == 4:
        cut = int(rng.choice([0, S2_HEAD.size - 1, S2_HEAD.size, int(rng.integers(len(p) + 1)), len(p) - 1]))
        p = p[:max(cut, 0)]
        desc = f"parameters cut to {len(p)} bytes"
    else:
        if rng.random() < 0.5:
            _s2_with_params(t, None)
            return build(t), "parameters removed"
        q = bytearray(p)
        head[8] = head[8] * 2.0 ** int(rng.choice([-8, 8]))
        S2_HEAD.pack_into(q, 0, *head)
        _s2_with_params(t, bytes(p), bytes(q))
        return build(t), f"second parameters record, step={head[8]!r}"
    _s2_with_params(t, bytes(p))
    return build(t), f"parameters: {desc}"


def mutate_s2_frames(s: Stream, rng) -> tuple[bytes, str]:
    """Profile 2 frame payloads under valid CRCs: the header byte, step refinements, the word
    count, coded and raw bytes."""
    t = s.copy()
    if not t.frames:
        return build(t), "no frames"
    i = int(rng.integers(len(t.frames)))
    b = bytearray(t.frames[i].body)
    what = int(rng.integers(5))
    if what == 0 or not b:
        v = int(rng.choice([0, 1, 8, 16, 17, 31, 32, 64, 255, int(rng.integers(256))]))
        b = bytearray([v]) + b[1:]
        desc = f"header byte {v}"
    elif what == 1:  # step refinements (a short frame), at and beyond the limit
        b[0] |= 1
        body = b[1:] if len(b) > 1 + S2_SHORT else bytes(S2_SHORT)
        e = bytes(int(rng.choice([0, 1, S2_EMAX, S2_EMAX + 1, 255])) for _ in range(S2_SHORT))
        b = bytearray(b[:1]) + e + (body[S2_SHORT:] if rng.random() < 0.5 else body)
        desc = f"refinements {list(e)}"
    elif what == 2:  # the varint word count after the fixed part
        pos = 1 + (S2_SHORT if b[0] & 1 else 0)
        v = int(rng.choice([0, 1, 2, 127, 128, 2**14, 2**28, 2**35]))
        enc = bytearray()
        while True:
            enc.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                break
        if b[0] & 16:  # a silence map comes first: put the count at a random place instead
            pos = int(rng.integers(1, max(2, len(b))))
        b = b[:pos] + enc + b[pos + 1 :]
        desc = f"word count bytes {enc.hex()} at {pos}"
    elif what == 3:  # random bytes in the coded data
        for _ in range(int(rng.integers(1, 6))):
            j = int(rng.integers(len(b)))
            b[j] = int(rng.integers(256))
        desc = "coded bytes"
    else:  # all bytes after the fixed part random, or all 0xFF / 0x00
        pos = 1 + (S2_SHORT if b[0] & 1 else 0)
        fill = str(rng.choice(["random", "ff", "00"]))
        n = len(b) - pos
        b[pos:] = (rng.integers(0, 256, n, dtype=np.uint8).tobytes() if fill == "random" else (b"\xff" if fill == "ff" else b"\x00") * n)
        desc = f"payload {fill}"
    t.frames[i].body = bytes(b)
    t.frames[i].crc = None
    return build(t), f"frame {i}: {desc}"


def mutate_time_side(s: Stream, rng) -> tuple[bytes, str]:
    t = s.copy()
    g = t.geometry()
    if not t.frames:
        return build(t), "no frames"
    i = int(rng.integers(len(t.frames)))
    c, b = int(rng.integers(g.channels)), int(rng.integers(g.blocks_of(i)))
    what = int(rng.integers(5))
    if what == 0:
        k = int(rng.choice([0, 1, 1023, SCALE_LIMIT_ROTATED, SCALE_LIMIT_ROTATED + 1, SCALE_LIMIT_IDENTITY,
                            SCALE_LIMIT_IDENTITY + 1, 4095, int(rng.integers(4096))]))  # fmt: skip
        set_time_side(t, i, c, b, k=k)
        desc = f"scale k={k}"
    elif what == 1:
        m = int(rng.integers(16))
        set_time_side(t, i, c, b, mode=m)
        desc = f"mode={m}"
    elif what == 2:
        k = int(rng.choice([SCALE_LIMIT_ROTATED, SCALE_LIMIT_IDENTITY, int(rng.integers(4096))]))
        set_time_side(t, i, c, b, k=k, mode=3)
        desc = f"identity k={k}"
    elif what == 3 and g.residual == 2:
        k, _, _ = time_side(t, i, c, b)
        gain = int(rng.choice([0, k + QJL_SLACK, k + QJL_SLACK + 1, 0xFFF, 0x1000 | k, 0xFFFF, int(rng.integers(65536))]))
        set_time_side(t, i, c, b, gain=gain)
        if rng.random() < 0.5:  # with the largest scale too
            set_time_side(t, i, c, b, k=SCALE_LIMIT_ROTATED, gain=min(gain, SCALE_LIMIT_ROTATED + QJL_SLACK))
        desc = f"qjl gain={gain}"
    else:  # every block of the frame at the largest accepted scale, random codes
        body = bytearray(rng.integers(0, 256, len(t.frames[i].body), dtype=np.uint8).tobytes())
        t.frames[i].body = bytes(body)
        for cc in range(g.channels):
            for bb in range(g.blocks_of(i)):
                mode = int(rng.integers(4))
                set_time_side(t, i, cc, bb, k=SCALE_LIMIT_IDENTITY if mode == 3 else SCALE_LIMIT_ROTATED, mode=mode,
                              gain=SCALE_LIMIT_ROTATED + QJL_SLACK if g.residual == 2 else None)  # fmt: skip
        desc = "frame at max scales, random codes"
    return build(t), f"frame {i} ch {c} block {b}: {desc}"


def mutate_spectral_side(s: Stream, rng) -> tuple[bytes, str]:
    t = s.copy()
    g = t.geometry()
    i = int(rng.integers(len(t.frames)))
    if len(t.frames[i].body) < g.head_bytes:
        return build(t), "short frame"
    what = int(rng.integers(6))
    if what == 0:
        fl = int(rng.choice([0, 1, 2, 3, 128, 255]))
        t.frames[i].body = bytes([fl]) + t.frames[i].body[1:]
        t.frames[i].crc = None
        desc = f"flags={fl}"
    elif what == 1:  # every band at one code
        v = int(rng.choice([0, 1, 60, 80, 96, 100, 110, 120, 126, 127]))
        set_codes(t, i, [v] * g.bands)
        desc = f"all scales={v}"
    elif what == 2:  # overflow / underflow through the deltas
        c = int(rng.integers(g.channels))
        first = int(rng.choice([0, 1, 120, 127]))
        d = int(rng.choice([-16, 15]))
        set_spectral_scales(t, i, c, first, [d] * (g.bands - 1))
        desc = f"ch {c}: first={first}, deltas {d}"
    elif what == 3:  # random raw scale fields
        c = int(rng.integers(g.channels))
        set_spectral_scales(t, i, c, int(rng.integers(128)), [int(rng.integers(-16, 16)) for _ in range(g.bands - 1)])
        desc = f"ch {c}: random scales"
    elif what == 4:  # a ramp up to 127 (max in range), random band codes
        ramp = [min(127, 60 + 15 * b) for b in range(g.bands)]
        set_codes(t, i, ramp)
        body = bytearray(t.frames[i].body)
        body[g.head_bytes :] = rng.integers(0, 256, len(body) - g.head_bytes, dtype=np.uint8).tobytes()
        t.frames[i].body = bytes(body)
        desc = "scales ramp to 127, random codes"
    else:  # random band code bytes
        body = bytearray(t.frames[i].body)
        for _ in range(int(rng.integers(1, 6))):
            if len(body) > g.head_bytes:
                body[int(rng.integers(g.head_bytes, len(body)))] = int(rng.integers(256))
        t.frames[i].body = bytes(body)
        t.frames[i].crc = None
        desc = "band code bytes"
    return build(t), f"frame {i}: {desc}"


def mutate_vbr_index(s: Stream, rng) -> tuple[bytes, str]:
    t = s.copy()
    d = build(t)
    nf = len(t.frames)
    offsets = list(struct.unpack_from(f"<{nf + 1}Q", d, len(d) - 12 - 8 * (nf + 1)))
    what = int(rng.integers(6))
    if what == 0:
        e = int(rng.integers(nf + 1))
        v = int(rng.choice([0, 1, offsets[e] + 1, offsets[e] - 1, 2**63, 2**64 - 1, len(d), int(rng.integers(len(d)))]))
        offsets[e] = max(v, 0)
        t.index = offsets
        desc = f"index entry {e}={offsets[e]}"
    elif what == 1:
        t.index_pos = int(rng.choice([0, 2**64 - 1, len(d), offsets[-1] + 8]))
        desc = f"index position={t.index_pos}"
    elif what == 2:
        t.index_magic = b"TQAY"
        desc = "index magic"
    elif what == 3:
        t.with_index = False
        desc = "no index"
    elif what == 4:  # a frame longer (valid structure), index follows
        i = int(rng.integers(nf))
        t.frames[i].body += rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
        desc = f"frame {i} longer (index updated)"
    else:  # a frame shorter, down to nothing after the header bytes
        i = int(rng.integers(nf))
        cut = int(rng.integers(0, len(t.frames[i].body) + 1))
        t.frames[i].body = t.frames[i].body[:cut]
        desc = f"frame {i} body cut to {cut} (index updated)"
    return build(t), desc


def mutate_frames(s: Stream, rng) -> tuple[bytes, str]:
    """Truncation, insertion, duplication, swapping, deletion of frames, appended bytes."""
    what = int(rng.integers(7))
    d = build(s)
    nf = len(s.frames)
    if what == 0 or nf == 0:  # truncation at a frame boundary or inside a frame
        bounds = [len(pack_header(s.header, s.header_extra))]
        for f in s.frames:
            bounds.append(bounds[-1] + len(f.body) + 8)
        cut = int(rng.choice(bounds)) + int(rng.choice([0, 0, 1, -1, 4, 5]))
        if rng.random() < 0.2:
            cut = int(rng.integers(len(d) + 1))
        cut = max(0, min(cut, len(d)))
        return d[:cut], f"truncated at {cut} of {len(d)}"
    if what == 1:  # bytes inserted anywhere
        pos = int(rng.integers(len(d) + 1))
        ins = rng.integers(0, 256, int(rng.choice([1, 4, 9, 100])), dtype=np.uint8).tobytes()
        return d[:pos] + ins + d[pos:], f"{len(ins)} bytes inserted at {pos}"
    if what == 6:  # appended bytes
        tail = rng.integers(0, 256, int(rng.choice([1, 12, 1000])), dtype=np.uint8).tobytes()
        if rng.random() < 0.3:
            tail = d[-12:]  # a second index tail
        return d + tail, f"{len(tail)} bytes appended"
    t = s.copy()
    i, j = (int(v) for v in rng.integers(nf, size=2))
    renumber = rng.random() < 0.4
    if what == 2:
        t.frames.insert(j, dataclasses.replace(t.frames[i]))
        desc = f"frame {i} duplicated at {j}"
    elif what == 3:
        t.frames[i], t.frames[j] = t.frames[j], t.frames[i]
        desc = f"frames {i} and {j} swapped"
    elif what == 4:
        del t.frames[i]
        desc = f"frame {i} deleted"
    else:
        t.frames[j] = dataclasses.replace(t.frames[i], index=t.frames[j].index)
        renumber = False
        desc = f"frame {i} copied over {j} (index and CRC valid)"
    if renumber:
        for k, f in enumerate(t.frames):
            f.index, f.crc = k, None
        desc += ", renumbered"
    return build(t), desc


MUTATORS = {
    0: [(mutate_header, 3), (mutate_header_extension, 1), (mutate_time_side, 4), (mutate_frames, 3)],
    1: [(mutate_header, 3), (mutate_header_extension, 1), (mutate_spectral_side, 4), (mutate_frames, 3), (mutate_vbr_index, 2)],
    2: [(mutate_header, 2), (mutate_s2_extension, 1), (mutate_s2_params, 3), (mutate_s2_frames, 4), (mutate_frames, 3),
        (mutate_vbr_index, 2)],
}
EQUIVALENT = (mutate_header_extension, mutate_s2_extension)  # mutators whose output must decode as the original


def make_case(profile: int, seed: int, case: int, seeds: dict[str, bytes] | None = None) -> tuple[bytes, str, bytes | None]:
    """Case ``case`` of a seeded campaign: (input, description, equivalent reference or None).

    The reference is the unmutated stream when the mutation is one the spec says
    changes nothing (then the input must decode to exactly the reference's samples).
    """
    rng = np.random.default_rng([seed, profile, case])
    seeds = seed_streams() if seeds is None else seeds
    names = [k for k in sorted(seeds) if seeds[k][5] == profile]
    if profile != 2 and rng.random() < 0.15:
        s = synth_time(rng) if profile == 0 else synth_spectral(rng)
        base = f"synth {s.header['channels']}ch"
    else:
        name = names[int(rng.integers(len(names)))]
        s = parse(seeds[name])
        base = name
    if rng.random() < 0.05:
        return build(s), f"{base}: unmutated", None
    table = MUTATORS[profile]
    if s.profile == 1 and not (s.header["rate_mode"] == 1):
        table = [m for m in table if m[0] is not mutate_vbr_index]
    weights = np.array([w for _, w in table], float)
    fn = table[int(rng.choice(len(table), p=weights / weights.sum()))][0]
    data, desc = fn(s, rng)
    ref = build(s) if fn in EQUIVALENT else None
    if rng.random() < 0.1:  # a second mutation on top (bytes level)
        d = bytearray(data)
        if d:
            d[int(rng.integers(len(d)))] ^= 1 << int(rng.integers(8))
        data, desc, ref = bytes(d), desc + " + bit flip", None
    return data, f"{base}: {desc}", ref


# =====================================================================================
# oracle
# =====================================================================================
MIB = 1 << 20


def memory_bound(size: int, output_bytes: int) -> int:
    """The issue's target: peak <= 64 MiB + 4 x (S + output chunk)."""
    return 64 * MIB + 4 * (size + output_bytes)


class CaseTimeout(Exception):
    pass


_INTERRUPT = 0.0  # seconds after which a call is interrupted (set in the campaign's workers)
# The clock a hang is measured on.  Wall time by default; the long campaign shares a 2-core
# machine with other work, where a 50 ms call can wait seconds for a core, so it counts the
# worker's CPU time (process_time, ITIMER_PROF) and reports the slowest wall time beside it.
_CPU_CLOCK = False
_TIMER = signal.ITIMER_REAL
_SLOWEST = [0.0, 0.0]  # the slowest call of this process: (wall s, CPU s)


USE_NUMBA = False  # the long campaign's --numba: compiled kernels meet crafted records too


def _engines() -> list[str]:
    import tqa

    # numba only when asked: it compiles a kernel specialization the first time an input layout
    # meets it (seconds of CPU, once per machine), which a fresh checkout's suite would count as hangs
    names = [e for e in ("numpy", "scipy", "tiled") if e in tqa.registry.engine_names()]
    return names + (["numba"] if USE_NUMBA and "numba" in tqa.engines() else [])


class _Sv2Path:
    """Profile 2 has one decoder with two interchangeable paths for its entropy decoding (numba
    loops where installed, vectorized NumPy otherwise): the "engines" compared on its streams."""

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled

    def __call__(self, fn):
        from tqa.sv2 import _jit

        keep = _jit.AVAILABLE
        _jit.AVAILABLE = keep and self.compiled
        try:
            return fn()
        finally:
            _jit.AVAILABLE = keep


def _sv2_paths() -> list[str]:
    from tqa.sv2 import _jit

    return ["sv2-compiled", "sv2-numpy"] if _jit.AVAILABLE else ["sv2-numpy"]


def check_case(data: bytes, rng: np.random.Generator | None = None, ref: bytes | None = None, *,
               time_limit: float = 2.0, measure_memory: bool = True, engines: list[str] | None = None,
               as_file: bool = False) -> tuple[str, list[tuple[str, str]]]:  # fmt: skip
    """Run every entry point on ``data``: (outcome, [(category, detail)]) with outcome
    "decoded" or "rejected".

    ``as_file``: pass a real (temporary) file opened for reading instead of bytes.
    Categories: ``exception`` (anything but tqa.FormatError escaped), ``length``,
    ``engines`` (decoders disagree, or one accepts what another rejects), ``zero_sign``
    (they give equal values but not the same bytes: -0.0 against 0.0), ``hang``
    (a call over ``time_limit`` s), ``memory`` (tracemalloc peak over the bound),
    ``verify`` (verify() == [] but decode fails), ``silence`` (recovery differs from a
    clean decode), ``range`` (a range decode differs from the full decode's slice),
    ``equivalent`` (a conforming rewrite decodes differently), ``spec`` (the library
    decodes a stream the spec forbids).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if engines is None:
        engines = _sv2_paths() if len(data) > 5 and data[5] == 2 else _engines()
    found: list[tuple[str, str]] = []

    path = None
    if as_file:  # a real file: reads of declared sizes must not pre-allocate (F2)
        import tempfile

        fd, path = tempfile.mkstemp(prefix="fmtspec-", suffix=".tqa")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    opened = []

    def src():
        if path is None:
            return data
        f = open(path, "rb")
        opened.append(f)
        return f

    try:
        return _check(data, rng, ref, time_limit, measure_memory, engines, src, found)
    finally:
        for f in opened:
            f.close()
        if path is not None:
            os.unlink(path)


def _check(data, rng, ref, time_limit, measure_memory, engines, src, found):
    import tqa

    def call(what: str, fn, out_bytes=lambda r: 0):
        """(ok, result or exception)."""
        if measure_memory:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if _INTERRUPT:  # each call gets its own timer (SIGALRM/SIGPROF -> CaseTimeout), see _worker
                signal.setitimer(_TIMER, _INTERRUPT)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = fn()
            ok = True
        except tqa.FormatError as exc:
            r, ok = exc, False
        except CaseTimeout:
            found.append(("hang", f"{what}: interrupted after {time.perf_counter() - t0:.1f} s wall, "
                                  f"{time.process_time() - c0:.1f} s CPU"))
            return None, None
        except MemoryError as exc:
            found.append(("memory", f"{what}: MemoryError {exc}"))
            found.append(("exception", f"{what}: MemoryError"))
            return None, None
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything else
            found.append(("exception", f"{what}: {type(exc).__name__}: {exc}"[:300]))
            return None, None
        finally:
            if _INTERRUPT:
                signal.setitimer(_TIMER, 0)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        _SLOWEST[0], _SLOWEST[1] = max(_SLOWEST[0], dt), max(_SLOWEST[1], dc)
        if (dc if _CPU_CLOCK else dt) > time_limit:
            found.append(("hang", f"{what}: {dt:.2f} s wall, {dc:.2f} s CPU"))
        if measure_memory:
            peak = tracemalloc.get_traced_memory()[1] - base
            bound = memory_bound(len(data), out_bytes(r) if ok else 0)
            if peak > bound:
                found.append(("memory", f"{what}: peak {peak / MIB:.1f} MiB > bound {bound / MIB:.1f} MiB"))
        return ok, r

    def nbytes(r):
        return r[0].nbytes if isinstance(r, tuple) else getattr(r, "nbytes", 0)

    ok_info, inf = call("info", lambda: tqa.info(src()))
    ok_ver, ver = call("verify", lambda: tqa.verify(src()))
    results = {}
    for e in engines:
        if e.startswith("sv2-"):
            path = _Sv2Path(e == "sv2-compiled")
            results[e] = call(f"decode[{e}]", lambda: path(lambda: tqa.decode(src(), dtype="float64")), nbytes)
        else:
            results[e] = call(f"decode[{e}]", lambda e=e: tqa.decode(src(), engine=e, dtype="float64"), nbytes)
    ok0, r0 = results[engines[0]]
    lib_engine = engines[0] if not engines[0].startswith("sv2-") else None
    # engines agree
    for e in engines[1:]:
        ok, r = results[e]
        if ok is None or ok0 is None:
            continue
        if ok != ok0:
            found.append(("engines", f"{engines[0]} {'accepts' if ok0 else 'rejects'}, {e} {'accepts' if ok else 'rejects'}"))
        elif ok and r[0].tobytes() != r0[0].tobytes():
            diff = int(np.sum(r[0] != r0[0]))
            if diff:
                found.append(("engines", f"{e} differs from {engines[0]} on {diff} of {r0[0].size} samples"))
            else:  # equal values, other bytes: -0.0 against +0.0
                found.append(("zero_sign", f"{e} differs from {engines[0]} in the sign of zero samples only"))
    n = c = None
    if ok_info:
        n, c = inf["frames"], inf["channels"]
    if ok0:
        y = r0[0]
        if not ok_info:
            found.append(("length", f"decode succeeds but info fails: {inf}"))
        elif y.shape[0] != n or (y.ndim == 2 and y.shape[1] != c) or (y.ndim == 1 and c != 1):
            found.append(("length", f"decode shape {y.shape}, info says {n} x {c}"))
        if not np.all(np.isfinite(y)):
            found.append(("length", "non-finite samples"))
        probs = spec_problems(data)
        if probs:
            found.append(("spec", f"decoded although the spec says: {probs[:2]}"))
    if ok_ver and ver == [] and ok0 is False:
        found.append(("verify", f"verify() == [] but decode raises: {r0}"[:300]))
    # recovery
    oks, rs = call("decode[silence]", lambda: tqa.decode(src(), on_error="silence", dtype="float64", engine=lib_engine), nbytes)
    # A stream that decodes strictly is complete: recovery must give all n samples.  A damaged
    # or truncated one gives at most n (the library keeps what the file holds and does not
    # invent a missing tail; a header declaring 2**40 samples must not make it allocate them).
    if oks and ok_info and (rs[0].shape[0] > n or (ok0 and rs[0].shape[0] != n)):
        found.append(("length", f"silence decode gives {rs[0].shape[0]} samples, header says {n}"))
    if oks and ok0 and rs[0].tobytes() != r0[0].tobytes():
        found.append(("silence", "on_error='silence' differs from a clean decode"))
    if ok0 and oks is False:
        found.append(("silence", f"decode succeeds, on_error='silence' raises: {rs}"[:300]))
    # range decodes
    if ok_info and n is not None:
        top = max(n, 1)
        for _ in range(2):
            start = int(rng.integers(0, top + 2))
            frames = int(rng.choice([0, 1, int(rng.integers(0, top + 2)), top + 10]))
            ok, r = call(f"decode[{start}:+{frames}]", lambda: tqa.decode(src(), start=start, frames=frames, dtype="float64", engine=lib_engine), nbytes)
            if ok:
                want = min(n, start + frames) - min(start, n)
                if r[0].shape[0] != want:
                    found.append(("length", f"range {start}+{frames}: {r[0].shape[0]} samples, expected {want}"))
                elif ok0 and r[0].tobytes() != r0[0][min(start, n) : min(n, start + frames)].tobytes():
                    found.append(("range", f"range {start}+{frames} differs from the full decode"))
            elif ok is False and ok0:
                found.append(("range", f"range {start}+{frames} raises although the full decode succeeds: {r}"[:300]))
    if ref is not None and ok0 is not None:
        try:
            want = tqa.decode(ref, dtype="float64", engine=lib_engine)[0]
        except Exception as exc:  # noqa: BLE001
            want = exc
        if isinstance(want, np.ndarray) and (not ok0 or r0[0].tobytes() != want.tobytes()):
            found.append(("equivalent", "a conforming rewrite (header extension) decodes differently: "
                          + ("rejected: " + str(r0)[:200] if not ok0 else "other samples")))  # fmt: skip
    return ("decoded" if ok0 else "rejected"), found


# =====================================================================================
# campaign: forked workers, RLIMIT_AS, per-case timer, watchdog
# =====================================================================================
CATEGORIES = ("exception", "hang", "memory", "engines", "zero_sign", "length", "verify", "silence", "range", "equivalent", "spec")


def _worker(conn, profile, seed, cases, cfg):
    import resource
    import signal

    if cfg["mem_cap"]:
        try:
            with open("/proc/self/statm") as f:
                vsz = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (vsz + cfg["mem_cap"], resource.getrlimit(resource.RLIMIT_AS)[1]))
        except (OSError, ValueError):
            pass

    def on_alarm(*_):
        raise CaseTimeout()

    global _INTERRUPT, _CPU_CLOCK, _TIMER, USE_NUMBA
    import tqa

    USE_NUMBA = cfg["numba"]
    # the calls without an engine (info, verify, recovery, ranges) run on the first one, not on
    # "auto" (which takes numba once anything in the process has loaded it)
    tqa.set_global_engine(_engines()[0])
    _CPU_CLOCK = cfg["clock"] == "cpu"
    _TIMER = signal.ITIMER_PROF if _CPU_CLOCK else signal.ITIMER_REAL
    signal.signal(signal.SIGPROF if _CPU_CLOCK else signal.SIGALRM, on_alarm)
    _INTERRUPT = cfg["interrupt"]
    seeds = seed_streams()
    warm_up(seeds)
    every, file_every = cfg["memory_every"], cfg["file_every"]
    # A worker ends after ``recycle`` cases and the campaign starts a fresh one: tracemalloc
    # on every case grows a worker's heap by ~28 KB a case (measured: flat without it), which
    # over 60,000 cases reached the address-space cap and turned cases into MemoryErrors.
    for case in cases[: cfg["recycle"]]:
        conn.send(("start", case))
        t0 = time.perf_counter()
        desc, data = "?", b""
        measure = bool(every) and case % every == 0
        try:
            data, desc, ref = make_case(profile, seed, case, seeds)
            rng = np.random.default_rng([seed, profile, case, 1])
            if measure:
                tracemalloc.start(1)
            outcome, found = check_case(data, rng, ref, time_limit=cfg["time_limit"], measure_memory=measure,
                                        as_file=bool(file_every) and case % file_every == 0)  # fmt: skip
        except CaseTimeout:  # outside a call (the reference decode of an equivalent rewrite)
            outcome, found = "rejected", [("hang", f"case over {cfg['interrupt']:.0f} s")]
        except MemoryError:
            outcome, found = "rejected", [("memory", "MemoryError in the harness"), ("exception", "MemoryError")]
        finally:
            if measure:
                tracemalloc.stop()
        conn.send(("done", case, outcome, found, desc, data[:4096].hex() if found else "", len(data), time.perf_counter() - t0,
                   tuple(_SLOWEST)))  # fmt: skip
        _SLOWEST[0] = _SLOWEST[1] = 0.0
    conn.send(("end",))
    conn.close()


def campaign(profile: int, cases: int, seed: int = 0, *, workers: int = 1, mem_cap: int = 1536 * MIB,
             time_limit: float = 2.0, interrupt: float | None = None, memory_every: int = 1, file_every: int = 7,
             watchdog: float = 120.0, deadline: float | None = None, progress=None, max_failures: int | None = None,
             first_case: int = 0, clock: str = "wall", recycle: int = 2000, only: list[int] | None = None,
             numba: bool = False) -> dict:  # fmt: skip
    """Run cases ``first_case .. first_case + cases - 1`` of profile ``profile`` in forked workers.

    Each worker caps its address space at its size after start-up + ``mem_cap``
    (RLIMIT_AS); a call over ``time_limit`` s counts as a hang, a call still running
    after ``interrupt`` s (default time_limit + 0.5) is interrupted (SIGALRM), a
    worker silent for ``watchdog`` s is killed and replaced.  Memory is measured
    (tracemalloc, slow) on every ``memory_every``-th case; every ``file_every``-th case
    goes in as a file object instead of bytes.  ``max_failures`` / ``deadline`` (s)
    stop early.  ``clock``: "wall" or "cpu" (the worker's CPU time), what ``time_limit``
    and ``interrupt`` are measured on.  Returns {"cases", "decoded", "rejected", "killed",
    <category>: count, "failures": [...], "seconds", "complete", "slowest" (the 20 slowest
    cases), "max_call_wall", "max_call_cpu"}.  A worker is replaced after ``recycle`` cases;
    ``only``: run these case numbers instead of a range; ``numba``: the numba engine among the
    compared engines (where installed).
    """
    import multiprocessing as mp
    import multiprocessing.connection

    cfg = {"mem_cap": mem_cap, "time_limit": time_limit, "interrupt": interrupt or time_limit + 0.5,
           "memory_every": memory_every, "file_every": file_every, "clock": clock, "recycle": recycle,
           "numba": numba}  # fmt: skip
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', not {clock!r}")
    ctx = mp.get_context("fork")
    todo = list(only) if only is not None else list(range(first_case, first_case + cases))
    cases = len(todo)
    shards = [todo[w::workers] for w in range(workers)]
    stats = {"cases": 0, "decoded": 0, "rejected": 0, "killed": 0, **{k: 0 for k in CATEGORIES}, "failures": [],
             "seconds": 0.0, "complete": True, "slowest": [], "max_call_wall": 0.0, "max_call_cpu": 0.0}  # fmt: skip
    t_start = time.perf_counter()
    active = {}

    def spawn(shard):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(child, profile, seed, shard, cfg), daemon=True)
        p.start()
        child.close()
        active[parent] = {"proc": p, "todo": list(shard), "current": None, "since": time.monotonic()}

    def lost(st, why, cat):
        case = st["current"] if st["current"] is not None else st["todo"][0]
        stats["cases"] += 1
        stats["killed"] += 1
        stats[cat] += 1
        stats["failures"].append({"case": case, "desc": why, "found": [(cat, why)], "hex": "", "bytes": 0})
        st["todo"].remove(case)
        if st["todo"] and not stop:
            spawn(st["todo"])

    for sh in shards:
        if sh:
            spawn(sh)
    stop = False
    while active:
        ready = mp.connection.wait(list(active), timeout=1.0)
        now = time.monotonic()
        for conn in ready:
            st = active[conn]
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("died",)
            st["since"] = now
            if msg[0] == "start":
                st["current"] = msg[1]
            elif msg[0] == "done":
                _, case, outcome, found, desc, hexdata, size, dt, (call_wall, call_cpu) = msg
                stats["max_call_wall"] = max(stats["max_call_wall"], call_wall)
                stats["max_call_cpu"] = max(stats["max_call_cpu"], call_cpu)
                stats["slowest"] = sorted(stats["slowest"] + [(round(dt, 3), case, desc)], reverse=True)[:20]
                st["todo"].remove(case)
                st["current"] = None
                stats["cases"] += 1
                stats[outcome] += 1
                for cat in {c for c, _ in found}:
                    stats[cat] += 1
                if found:
                    stats["failures"].append({"case": case, "desc": desc, "found": found, "hex": hexdata, "bytes": size})
                if progress:
                    progress(stats)
                if max_failures and len(stats["failures"]) >= max_failures:
                    stop = True
            else:  # end or died
                p = st["proc"]
                p.join(5)
                del active[conn]
                if msg[0] == "died" and st["todo"]:
                    lost(st, f"worker died (exit {p.exitcode})", "exception")
                elif msg[0] == "end" and st["todo"] and not stop:  # recycled: a fresh worker goes on
                    spawn(st["todo"])
        for conn, st in list(active.items()):
            if now - st["since"] > watchdog:
                st["proc"].kill()
                st["proc"].join(5)
                del active[conn]
                lost(st, f"killed by the watchdog after {watchdog:.0f} s", "hang")
        if deadline is not None and time.perf_counter() - t_start > deadline:
            stop = True
        if stop and active:
            stats["complete"] = stats["cases"] >= cases
            for conn, st in list(active.items()):
                st["proc"].kill()
                st["proc"].join(5)
                del active[conn]
    stats["seconds"] = time.perf_counter() - t_start
    return stats


def describe(f: dict) -> str:
    cats = ", ".join(sorted({c for c, _ in f["found"]}))
    first = "; ".join(d for _, d in f["found"][:3])
    return f"case {f['case']} [{cats}] {f['desc']}: {first}"
