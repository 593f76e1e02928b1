"""TQA as an array codec: the chunk format shared by the numcodecs (zarr v2) and zarr v3 codecs.

A chunk is any NumPy array of a supported dtype.  Its **first axis is time**; every
other axis is flattened (C order) into channels, so a ``(7000, 5)`` chunk of a
16-channel recording is 5 channels of 7000 samples, a 1-D chunk is mono, and a
``(n, 4, 8)`` chunk is 32 channels.  The codec's configuration holds only *coding*
settings (profile, bits, rate, ...); dtype, byte order, shape and memory order come
from the chunk and are stored in it, so a chunk decodes on its own.

Scale-free SQNR
===============
TQA codes on a fixed grid (2**23 steps per unit, float headroom +-16; see
:mod:`tqa.samples`).  To make the stated SQNR hold at any amplitude, each chunk is
normalized by a power of two, ``2**e``, chosen so that its peak lies in [0.5, 1):
``x / 2**e`` is exact in float64 (a power of two only shifts the exponent), so the
coded values, and therefore the bytes, are identical on every engine.  Unsigned
integers are first offset by each channel's level (``x - m``, exact; stored in the header:
the rounded mean of its samples before a constant tail, which is where zarr pads an edge
chunk with its fill value), so that a recording far from the mid code (an ADC's baseline)
is coded about its level, not as a large constant: chunks of version 1 and 2 took the mid code
``2**(bits-1)`` off, and the time profile then coded a uint16 recording at baseline 2000 with an
error of 338 counts RMS, 15 dB of the raw values (``tools/dc_offset.py``).  Signed integers and
floats take offsets the same way where a channel's level is at least 1/16 of its peak about it
(:data:`DC_PEAK`; an int16 recording at baseline 10000: 108.7 counts RMS of error before, 0.91
now); audio, about zero, keeps its bytes and chunk version.  An edge chunk that zarr pads with a
fill value away from the data's level (0 for a uint16 recording about its mid code) stores its
fill rows as a tail (their number and row, exact; see :data:`TAIL_ROWS`), not coded, so they
neither count as signal nor set the scale (chunk version 5).  On decoding,
``y * 2**e`` (+ offset) is rounded and clipped to the integer range, or cast (and clipped to
the finite range) for floats.

Limits: integer output is rounded to whole counts, which adds 1/12 LSB**2 of error
(the SQNR holds within ~1 dB when the signal's RMS is >= ~10**(SQNR/20) * 0.3 LSB,
e.g. >= ~25 counts at the default 38 dB); a float chunk whose peak is subnormal in its
own dtype has no more precision than the dtype holds there; NaN and +-Inf are refused
(``ValueError`` naming the first one); a constant chunk (all zeros, say) is stored
exactly, as a header and one sample.  int64/uint64 values are coded through float64 (53 bits).  A
channel whose level is far below the chunk's loudest one is coded relative to the
grid, ~2**22 steps per chunk peak: the time profile keeps its SQNR on channels down
to ~-90 dB below the loudest.  The spectral profile, though, shares its bits across
the channels of a frame to minimize the *total* error, so a channel 20 dB quieter
than the rest gets few bits; ``scale="channel"`` normalizes each channel by its own
power of two instead, near its RMS (2 bytes per channel per chunk; see
:func:`channel_exponents`), which evens out the per-channel SQNR (electrophysiology).

Chunk format (all integers little-endian)
=========================================
======  =====  ==============================================================
offset  size   field
======  =====  ==============================================================
0       4      magic ``b"TQAC"``
4       1      version: 1, or 2 where the streams are not version 1's groups, 3
               where an unsigned chunk has per-channel offsets (flag bit 4), 4
               where a signed or float one has, 5 where it has a tail (flag
               bit 5); a reader refuses a version newer than it reads
5       1      dtype code: 1 int8, 2 uint8, 3 int16, 4 uint16, 5 int32,
               6 uint32, 7 int64, 8 uint64, 9 float16, 10 float32, 11 float64
6       1      flags: bit 0 big-endian, bit 1 constant (every sample equals
               the payload, one sample of the dtype; no payload if the
               chunk is empty), bit 2 Fortran order (decoded array is
               F-contiguous), bit 3 per-channel exponents, bit 4 per-channel
               offsets (version 3: unsigned dtypes; 4: signed and float ones),
               bit 5 a tail (version 5); other bits zero
7       1      ndim d, 0 .. 32
8       8*d    shape, u64 each
8+8d    2      scale exponent e (i16): sample = decoded * 2**e + offset (the
               channel's with flag bit 4, else 2**(bits-1) for unsigned dtypes,
               0 for the others); the encoder picks e so the chunk's peak
               (less the offsets) is in [0.5, 1)
10+8d   2*c    only with flag bit 3 (``scale="channel"``): one i16 exponent per
               channel c (e is then 0); c = the product of shape[1:]
Q       8*c    only with flag bit 4: one offset per channel, u64 (unsigned dtypes),
               i64 (signed) or f64 (floats: finite), within the dtype's range
               (Q = 10+8d, or 10+8d+2c with flag bit 3)
T       8+8*c  only with flag bit 5: the tail, u64 t (TAIL_ROWS <= t < shape[0]), then
               its row, one value per channel in the offsets' kind: the chunk's last t
               rows all equal that row and are not in the streams (T = Q, or Q+8c
               with flag bit 4)
P       4      CRC-32 (zlib) of bytes 0 .. P-1 (P = T, or T+8+8c with flag bit 5)
P+4     ...    payload: for each group of channels, u32 length L, then L bytes:
               a complete .tqa stream (``tqa.decode`` reads it) of ``shape[0]``
               frames (1 if d = 0; ``shape[0] - t`` with a tail).  Version 1: groups of 4096 channels (the
               most a .tqa stream holds) and the rest.  Version 2: any groups,
               in channel order, each stream's header giving its channels
               (profile ``spectral2`` holds 255 a stream: c > 255 channels go
               in ceil(c/255) even groups, 384 as 2 x 192)
======  =====  ==============================================================

A plain .tqa stream (magic ``b"TQAF"``, what tqa <= 0.2's codec wrote) is still
read, with the legacy ``dtype``/``channels`` of the codec's configuration.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib

import numpy as np

__all__ = ["CHUNK_MAGIC", "DTYPE_CODES", "ChunkSettings", "encode_chunk", "decode_chunk", "chunk_info", "check_dtype"]

CHUNK_MAGIC = b"TQAC"
VERSION = 5  # the newest this reader reads; writers write 1 unless the streams need 2, unsigned offsets 3, signed ones 4, a tail 5
MAX_NDIM = 32
MAX_STREAM_CHANNELS = 4096
SAMPLE_RATE = 48000  # stored in each stream; a zarr array keeps its own rate in attributes

# The profile of a codec that names none: the time profile, not the files' default (spectral2).
# spectral2 quality=38 scale="channel" takes 1.90 bits/sample where the time profile takes 7.12 on
# 1-s music chunks (tools/bench_array_codec.py), but on a plain install (no numba: tqa[fast]) its
# NumPy lanes code a (600, 5000) float32 chunk in 110 s and decode it in 210 s (the time profile:
# 0.25 s each; with numba 0.58 / 0.22 s), and the test suite took 40 min on 2 cores; it stays a
# setting (profile="spectral2", quality=38) until those lanes are fast.  Stored configs name their
# profile, and one without it reads as this.
DEFAULT_PROFILE = "time"

DTYPE_CODES = {"int8": 1, "uint8": 2, "int16": 3, "uint16": 4, "int32": 5, "uint32": 6, "int64": 7, "uint64": 8,
               "float16": 9, "float32": 10, "float64": 11}  # fmt: skip
_CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
_BIG, _CONST, _FORTRAN, _PER_CHANNEL, _OFFSET, _TAIL = 1, 2, 4, 8, 16, 32

# The codec's settings of a profile are its Settings fields (tqa.profiles: defaults and validation
# are the profile's), less the container-level ones (HIDDEN); configs list them in field order,
# those of the profiles whose configurations tqa 0.3 wrote first in that order (reprs and stored
# configs keep it).  A setting the profile derives from the others when not given (DERIVED) is
# left out of the config unless given.
CONFIG_ORDER = {"time": ("bits", "residual", "block_size", "seed", "qjl_rows"), "spectral": ("rate", "quality", "hop", "seed")}
HIDDEN = {"time": ("frame_samples",)}
DERIVED = {"time": ("qjl_rows",)}


def check_dtype(dtype) -> np.dtype:
    """The chunk dtype if the codec supports it, else TypeError."""
    dt = np.dtype(dtype)
    if dt.newbyteorder("=").name not in DTYPE_CODES or dt.kind not in "iuf":
        raise TypeError(
            f"tqa codec: cannot encode {dt} data (supported: {', '.join(DTYPE_CODES)}, either byte order)"
        )
    return dt


class ChunkSettings:
    """Validated coding settings of the array codec (the codec configuration, nothing else).

    ``profile`` is a name of :mod:`tqa.profiles`; the settings are the profile's (its Settings
    fields, defaults and checks), less container-level ones (the time profile's ``frame_samples``):

    * ``"time"``: ``bits``, ``residual``, ``block_size``, ``seed``, ``qjl_rows``;
    * ``"spectral"``: ``rate`` (bits per sample of the whole chunk, all overhead included) or
      ``quality`` (target SQNR, dB), ``hop``, ``seed``;
    * ``"spectral2"``: ``rate`` (of the whole chunk, as above) or ``quality``, ``hop`` (``"auto"``
      or 256..2048), ``seed``, ``rotate``, ``transients``, ``preecho``, ``silence``, ``stereo``.
    """

    def __init__(self, profile: str = DEFAULT_PROFILE, scale: str | None = None, **settings) -> None:
        from . import profiles

        if scale not in (None, "chunk", "channel"):
            raise ValueError(f"tqa codec: scale must be 'chunk' or 'channel', got {scale!r}")
        self.scale = scale or "chunk"
        if not isinstance(profile, str) or profile not in profiles.names():
            raise ValueError(f"tqa codec: profile must be one of {', '.join(map(repr, profiles.names()))}, got {profile!r}")
        prof = profiles.get(profile)
        fields = {f.name: f for f in dataclasses.fields(prof.Settings) if f.name not in HIDDEN.get(profile, ())}
        first = CONFIG_ORDER.get(profile, ())
        order = first + tuple(k for k in fields if k not in first)
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = [k for k in given if k not in fields]
        if unknown:
            raise ValueError(f"tqa codec: {', '.join(unknown)} do not apply to profile={profile!r} "
                             f"(its settings: {', '.join(order)})")  # fmt: skip
        for k, v in given.items():
            if isinstance(v, (bool, np.bool_)) and not isinstance(fields[k].default, bool):
                raise TypeError(f"tqa codec: {k} must be a number or a string, got {v!r}")
        try:
            st = prof.settings(**given)  # the profile's defaults and checks
        except TypeError as exc:
            raise ValueError(f"tqa codec: {exc}") from None
        derived = DERIVED.get(profile, ())
        s = {k: _plain(getattr(st, k)) for k in order if k in given or k not in derived}
        self.profile = profile
        self.settings = {k: v for k, v in s.items() if v is not None}
        self.stream_channels = _stream_channels(profile)
        encode_chunk(np.array([0.5, -0.25], np.float32), self)  # validate now (tqa's own checks), not at the first chunk

    def config(self) -> dict:
        """JSON-able settings: profile and every setting of it (None ones left out)."""
        out = {"profile": self.profile}
        out.update(self.settings)
        if self.scale != "chunk":
            out["scale"] = self.scale
        return out

    def tqa_kwargs(self) -> dict:
        return {"profile": self.profile, **self.settings}


def _stream_channels(profile: str) -> int:
    """Channels a .tqa stream of the profile holds: its own limit, else the format's."""
    from .profiles import spectral2

    return {"spectral2": spectral2.MAX_CHANNELS}.get(profile, MAX_STREAM_CHANNELS)


def _plain(v):
    """A setting as a JSON value (NumPy scalars to Python's)."""
    return v.item() if isinstance(v, np.generic) else v


def _encode(x: np.ndarray, grid: bool = False, **kw) -> bytes:
    """A .tqa stream of (n, channels) float64 ``x``: tqa.Encoder, not tqa.encode, since a chunk
    of few samples and many channels is not a channels-first mistake.  ``grid``: x is the
    stream's grid already (:func:`_int_grid`)."""
    import io

    from . import api

    buf = io.BytesIO()
    enc = api.Encoder(buf, SAMPLE_RATE, x.shape[1], source_format="float64", **kw)
    enc._write_whole(x, grid)  # x: the chunk scaled by the codec (finite, |x| < 16, the grid's headroom): no float check
    enc.close()
    return buf.getvalue()


def _stream_encode(x: np.ndarray, cs: ChunkSettings, chunk_bytes: int, grid: bool = False) -> bytes:
    """One .tqa stream of (n, channels) ``x`` (its grid if ``grid``); ``chunk_bytes``: the chunk's
    own bytes (header, length words) that a ``rate=`` of the whole chunk pays for, this stream's
    share of them."""
    kw = cs.tqa_kwargs()
    fit = RATE_FIT.get(cs.profile)
    if fit is not None and kw.get("rate") is not None:
        return fit(x, kw, chunk_bytes, grid)
    return _encode(x, grid, **kw)


def _whole_at_rate(x: np.ndarray, kw: dict, chunk_bytes: int, grid: bool = False) -> bytes:
    """A stream of a profile whose ``rate`` already counts the whole stream (spectral2: every
    header, table and index byte): it is asked for the chunk's rate less the chunk's own bytes,
    in the thousandths the header keeps, rounded down (never below the profile's minimum)."""
    from .profiles.base import RATE_RANGE

    n, c = x.shape
    r = math.floor((kw["rate"] - 8.0 * chunk_bytes / (n * c)) * 1000) / 1000
    return _encode(x, grid, **{**kw, "rate": min(kw["rate"], max(RATE_RANGE[0], r))})


_SPECTRAL_FIXED: dict = {}


def _spectral_fixed(channels: int, hop: int, seed: int) -> int:
    """Header bytes of a CBR spectral stream, measured once (a 1-sample stream minus its frames)."""
    from . import api

    key = (channels, hop, seed)
    if key not in _SPECTRAL_FIXED:
        b = _encode(np.zeros((1, channels)), profile="spectral", rate=1.0, hop=hop, seed=seed)
        frames = api.info(b)["tqa_frames"]
        _SPECTRAL_FIXED[key] = len(b) - frames * math.ceil(1.0 * hop * channels / 8)
    return _SPECTRAL_FIXED[key]


def _spectral_at_rate(x: np.ndarray, kw: dict, chunk_bytes: int = 0, grid: bool = False) -> bytes:
    """A CBR spectral stream whose *total* size is ``rate`` bits per sample of the chunk.

    tqa's ``rate`` sizes each MDCT frame (hop samples per channel); a chunk of n
    samples needs ceil(n/hop) + 1 frames plus headers, which costs ~5% at 1 s.  The
    frame rate is lowered (never below tqa's 0.5 minimum) so the whole stream fits
    the budget; if the stream still comes out larger than 0.5% over (a format this
    estimate does not know), it is re-encoded once at a rate scaled down to fit.
    """
    n, c = x.shape
    rate, hop = kw["rate"], kw["hop"]
    budget = rate * n * c / 8.0
    frames = -(-n // hop) + 1
    fixed = _spectral_fixed(c, hop, kw["seed"])  # the header; a CBR frame is ceil(rate*hop*c/8) bytes, all in
    r = math.floor((budget - fixed) * 8.0 / (frames * hop * c) * 1000) / 1000
    r = min(rate, max(0.5, r))
    b = _at_least(x, kw, r, grid)
    if len(b) > budget * 1.005 and r > 0.5:
        r2 = max(0.5, math.floor(r * (budget - fixed) / (len(b) - fixed) * 1000) / 1000)
        b = _at_least(x, kw, r2, grid)
    return b


# How a profile's stream meets a rate= that is the chunk's (profiles without one: as is).
RATE_FIT = {"spectral": _spectral_at_rate, "spectral2": _whole_at_rate}


def _groups(c: int, most: int) -> list[int]:
    """Channels of each stream of a chunk of c channels: the format's streams hold up to 4096
    (groups of 4096 and the rest: chunk version 1); a profile holding fewer gets even groups."""
    if most >= MAX_STREAM_CHANNELS:
        return [min(MAX_STREAM_CHANNELS, c - lo) for lo in range(0, c, MAX_STREAM_CHANNELS)]
    k = -(-c // most)
    return [c // k + (i < c % k) for i in range(k)]


def _at_least(x: np.ndarray, kw: dict, r: float, grid: bool = False) -> bytes:
    """Encode at frame rate ``r``, or the lowest rate above it (up to the asked one) whose
    frames still hold the profile's side info (tqa refuses rates below that)."""
    while True:
        try:
            return _encode(x, grid, **{**kw, "rate": r})
        except ValueError as exc:
            if "too low" not in str(exc) or r >= kw["rate"]:
                raise
            r = min(kw["rate"], math.ceil((r + max(0.05, r * 0.1)) * 1000) / 1000)


def channel_exponents(xf: np.ndarray, peak: np.ndarray | None = None) -> np.ndarray:
    """``scale="channel"``: per channel, the power of two that puts its RMS in [0.5, 1), raised
    where needed to keep its peak below the grid's float headroom (16): e = max(e_rms, e_peak - 4).
    ``peak``: max |xf| per channel where the caller has it (:func:`_int_peaks`)."""
    n, c = xf.shape
    if c <= 8:
        # NumPy's axis-0 reductions step through a short last axis slowly: the channels as rows
        # (a 1-s stereo chunk: 369 -> ~100 us, einsum's 243 of them)
        rows = np.ascontiguousarray(xf.T)
        if peak is None:
            peak = np.array([max(float(r.max()), -float(r.min())) for r in rows]) if n else np.zeros(c)
        rms = np.sqrt(np.array([float(np.dot(r, r)) for r in rows]) / max(n, 1))
    else:
        if peak is None:
            peak = np.max(np.abs(xf), axis=0)
        rms = np.sqrt(np.einsum("nc,nc->c", xf, xf) / max(n, 1))  # 3-6x np.mean(np.square(xf), axis=0)
    return _exponents(peak, rms)


def _exponents(peak: np.ndarray, rms: np.ndarray) -> np.ndarray:
    """:func:`channel_exponents` from each channel's peak and RMS."""
    e_peak = np.frexp(np.where(peak > 0, peak, 1.0))[1]
    e_rms = np.frexp(np.where(rms > 0, rms, 1.0))[1]
    return np.maximum(e_rms, e_peak - 4).astype(np.int16)  # silent channels: 2**1


SUMSQ_ROWS = 1024  # rows of a chunk squared at a time (_int_sumsq)


def _int_sumsq(x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """sum (x - offset)**2 per channel of (n, c) integers of at most 16 bits less offsets of the
    same range (c,), n < 2**20: the value of channel_exponents' einsum over their float64 copy,
    bit for bit, as every partial sum is an integer below 2**52 (squares below 2**32: exact in
    float64 in any order); a slice of rows at a time, so no copy of
    the chunk (384 channels, 1 s: a 92 MB array fewer, ~27,000 -> 18,000-22,000 page faults a chunk)."""
    out = np.zeros(x.shape[1])
    for lo in range(0, x.shape[0], SUMSQ_ROWS):
        b = np.subtract(x[lo : lo + SUMSQ_ROWS], offset, dtype=np.float64)
        out += np.einsum("nc,nc->c", b, b)
    return out


def _int_peaks(x: np.ndarray, offset: np.ndarray, ext: tuple | None = None) -> np.ndarray:
    """max |x - offset| per channel of (n, c) integers x (offsets (c,)), as float64: what channel_exponents
    computes from their float64 copy, from the integers' max and min (exact: rounding to float64
    keeps their order; ``ext``: those, where read already).  384 channels, 1 s: 3 ms, the float64
    copy's abs and max 30 ms."""
    hi, lo = _extremes(x) if ext is None else ext
    return np.maximum(hi - offset, offset - lo)


def _ldexp_channels(x: np.ndarray, e: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """np.ldexp(x, e) of (n, c) x by per-channel int32 exponents e (c,): column by column for few
    channels (a broadcast over a short last axis runs NumPy's loop per row), int32 because
    NumPy's ldexp loop takes them (int64 exponents: 3-6x slower; 1-s chunks: stereo 1.3 -> 0.4 ms)."""
    if out is None:
        out = np.empty_like(x)
    if e.size and -1000 < int(e.min()) and int(e.max()) < 1000:
        # 2**e normal: x * 2**e is exact, or rounded once where it falls subnormal, as ldexp rounds it
        # (the same values, bit for bit); NumPy's multiply loop is ~5x its ldexp loop (384 channels, 1 s:
        # 100 -> 19 ms)
        f = np.ldexp(1.0, e)
        if x.shape[1] <= 8:
            for j in range(x.shape[1]):
                np.multiply(x[:, j], f[j], out=out[:, j])
            return out
        return np.multiply(x, f, out=out)
    if x.shape[1] <= 8:
        for j in range(x.shape[1]):
            np.ldexp(x[:, j], int(e[j]), out=out[:, j])
        return out
    return np.ldexp(x, e, out=out)


def _int_grid(x: np.ndarray, offset: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The grid of integer samples x (n, c) less offsets (c,), scaled by 2**-e per channel (e (c,)):
    what to_grid makes of ldexp(x - offset, -e), made from the integers in one pass, as (x - offset)·2**(23 - e):
    the same values, bit for bit (x - offset is the float64 copy's value; both scalings by powers of
    two are exact for integers, normal whatever e; to_grid's rint only acts where 23 - e < 0).  A
    384-channel 1-s chunk: no scaled copy, no second pass (~40 ms of ~600)."""
    f = np.ldexp(1.0, 23 - e.astype(np.int32))
    g = np.empty(x.shape)
    cols = range(x.shape[1]) if x.shape[1] <= 8 else None  # few channels: column by column (_ldexp_channels)
    if offset.any():
        if cols is None:
            np.subtract(x, offset, out=g, dtype=np.float64)
            np.multiply(g, f, out=g)
        for j in cols or ():
            np.subtract(x[:, j], offset[j], out=g[:, j], dtype=np.float64)
            np.multiply(g[:, j], f[j], out=g[:, j])
    elif cols is None:
        np.multiply(x, f, out=g, dtype=np.float64)
    else:
        for j in cols:
            np.multiply(x[:, j], f[j], out=g[:, j], dtype=np.float64)
    if e.size and int(e.max()) > 23:
        np.rint(g, out=g)
    return g


# A signed or float chunk takes offsets only where a channel's level is worth them: where its (rounded) mean
# is at least 1/DC_PEAK of its peak about it (its largest |x - mean|; max and min are what the
# encoder reads anyway, an RMS would be one more pass: 22 ms of a 384-channel 1-s chunk).  The
# corpus's audio stays well below: the largest |mean| / peak of its 1-s chunks is 0.011
# (music_heroes; the rest <= 0.007), the synthetic recording's ~0.03 (its slow drifts), so their
# chunks keep their bytes and chunk version (tools/dc_offset.py --survey).  The time profile codes
# a block's level with its fluctuations: int16 chunks of the synthetic recording at baseline 300
# came back with 3.85 counts RMS of error against 0.91 at 0, at 10000 with 108.7
# (tools/dc_offset.py --dtype int16).  Gaussian noise peaks at ~4.5 RMS in a 1-s chunk, so it
# takes offsets from ~0.28 of its RMS (a level that costs the time profile ~4% more error).  Float
# chunks alike: float32 microvolts of the recording at baseline 10000 counts, 118 -> 0.86 counts RMS.
DC_PEAK = 16


def _extremes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) per channel of (n, c) samples, as float64 (exact for integers: rounding keeps their order)."""
    if x.shape[1] <= 8:  # a short last axis: the channels as rows (channel_exponents' reason)
        rows = np.ascontiguousarray(x.T)
        return np.array([float(r.max()) for r in rows]), np.array([float(r.min()) for r in rows])
    return x.max(axis=0).astype(np.float64), x.min(axis=0).astype(np.float64)


def chunk_offsets(x: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, tuple | None]:
    """What the codec takes off each channel of (n, c) finite samples x of dtype dt (float64; zeros
    where it takes none), and the channels' (max, min) where it read them (signed and float chunks)."""
    c = x.shape[1]
    if x.size == 0:
        return np.zeros(c), None
    off = _offsets(x, dt)
    if dt.kind == "u" or not off.any():
        return off, None
    hi, lo = ext = _extremes(x)
    pays = np.any((off != 0) & (DC_PEAK * np.abs(off) >= np.maximum(hi - off, off - lo)))  # (a silent channel: no level)
    return (off if pays else np.zeros(c)), ext


def _offset_kind(dt: np.dtype) -> str:
    """How a chunk of dtype dt stores its offsets: u64 for unsigned integers, i64 for signed, f64 for floats."""
    return {"u": "<u8", "i": "<i8", "f": "<f8"}[dt.kind]


def _offsets(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Each channel's offset of (n, c) samples, as float64 (integers: integers): the rounded mean mu of
    its samples before its constant tail (the rows at its end equal to its last value, two or more,
    which is where zarr pads an edge chunk with its fill value; all of them if the channel is constant).
    Over those samples sum (x - k)**2 = sum x**2 - n k (2 mu - k) <= sum x**2 for any k between
    0 and 2 mu, which round(mu) is: they are never coded as more energy than they hold.  Floats:
    mu in the dtype's precision (so that x - mu is exact in float64 for float16/32 samples).  (Signed
    and float chunks keep them only where :func:`chunk_offsets` finds them worth it.)"""
    n, c = x.shape
    ends = np.full(c, n)
    tail = np.ones(c, bool)
    last = x[-1]
    for lo in range(n - 1, -1, -SUMSQ_ROWS):  # the constant tails, a slice of rows at a time from the end
        blk = x[max(0, lo - SUMSQ_ROWS + 1) : lo + 1]
        same = np.logical_and.accumulate((blk == last)[::-1], axis=0)  # from the end, while equal
        run = same.sum(axis=0)
        ends = np.where(tail, ends - run, ends)
        tail &= run == blk.shape[0]
        if not tail.any():
            break
    ends = np.where((ends == 0) | (ends >= n - 1), n, ends)  # a constant channel, or a tail of one row: all of it
    if bool((ends == n).all()):
        sums = np.add.reduce(x, axis=0, dtype=np.float64)
    elif dt.kind == "f" or (dt.itemsize <= 4 and n < 2**21):
        # the whole channel's sum less its tail's, a constant's (a channel at a time: 45 ms of a
        # 384-channel 1-s chunk, where ~300 of its channels end in two equal samples); for integers
        # every partial sum is an integer below 2**53 (exact in any order), so the same values
        sums = np.add.reduce(x, axis=0, dtype=np.float64) - last.astype(np.float64) * (n - ends)
    else:
        sums = np.array([np.add.reduce(x[: int(ends[j]), j], dtype=np.float64) for j in range(c)])
    if dt.kind == "f":
        return (sums / ends).astype(dt.newbyteorder("=")).astype(np.float64)
    info = np.iinfo(dt.newbyteorder("="))
    hi = float(info.max)
    if hi >= 2.0**53:  # 64-bit: the float nearest the maximum rounds up past it
        hi = float(np.nextafter(hi, 0.0))
    return np.clip(np.rint(sums / ends), float(info.min), hi)


# A chunk's tail: its last rows, TAIL_ROWS or more, equal to its last row in every channel (and rows
# before them), where some channel's tail value is away from its level by at least 1/DC_PEAK of its
# peak about it.  That is where zarr pads an edge chunk with a fill value that is not the data's
# level (0 for a uint16 recording about its mid code): coded, it counted as signal, and quality=38
# came back at 32.3 dB on the data rows (tools/zarr_edge_chunks.py).  Stored as its length and row
# (chunk version 5); a tail at the level (the trailing zeros of audio) is coded as before.  Sixteen
# rows, so that a few equal samples at a chunk's end (quiet audio) keep their bytes and version.
# Rows of NaN at a float chunk's end (fill_value=NaN) are a tail of any length: NaN cannot be
# coded, and such edge chunks were refused ("chunk contains nan"); a chunk all NaN is a constant.
TAIL_ROWS = 16


def _tail_pays(x: np.ndarray, t: int, off: np.ndarray, ext: tuple | None) -> bool:
    """Whether the last t rows of (n, c) samples x are a tail worth storing (see TAIL_ROWS)."""
    head = x[: x.shape[0] - t]
    hi, lo = ext if ext is not None else _extremes(head)
    d = np.abs(x[-1].astype(np.float64) - off)
    return bool(np.any((d != 0) & (DC_PEAK * d >= np.maximum(hi - off, off - lo))))


def _tail_rows(x: np.ndarray) -> int:
    """Rows at the end of (n, c) samples equal to the last row in every channel, where there are
    TAIL_ROWS or more and rows before them (else 0)."""
    n = x.shape[0]
    last, t = x[-1], 0
    if n <= TAIL_ROWS or not np.array_equal(x[-2], last):  # most chunks: one row compared
        return 0
    for hi in range(n - 1, 0, -SUMSQ_ROWS):  # a slice of rows at a time from the end
        blk = x[max(0, hi - SUMSQ_ROWS) : hi]  # rows before row hi
        same = np.all(blk == last, axis=1)[::-1]
        run = int(np.argmin(same)) if not same.all() else same.size
        t += run
        if run < same.size:
            break
    t += 1  # the last row itself
    return t if TAIL_ROWS <= t < n else 0


def _as_chunk(buf) -> np.ndarray:
    if isinstance(buf, np.ndarray):
        return buf
    from numcodecs.compat import ensure_ndarray  # buffers of any kind: numcodecs' rules

    return ensure_ndarray(buf)


def encode_chunk(chunk, settings: ChunkSettings, max_bytes: int | None = None) -> bytes:
    """Encode one chunk (an array, or any buffer: untyped bytes are uint8) to bytes."""
    x = _as_chunk(chunk)
    if x.dtype == object or x.dtype.kind not in "iuf":
        raise TypeError(f"tqa codec: cannot encode {x.dtype} data")
    dt = check_dtype(x.dtype)
    if max_bytes is not None and x.nbytes > max_bytes:
        raise ValueError(f"tqa codec: chunk of {x.nbytes} bytes exceeds max_buffer_size={max_bytes}")
    if x.ndim > MAX_NDIM:
        raise ValueError(f"tqa codec: chunks of at most {MAX_NDIM} dimensions, got {x.ndim}")
    flags = _BIG if (dt.byteorder == ">" or (dt.byteorder == "=" and not np.little_endian)) and dt.itemsize > 1 else 0
    if x.ndim > 1 and x.flags.f_contiguous and not x.flags.c_contiguous:
        flags |= _FORTRAN
    name = dt.newbyteorder("=").name
    n = x.shape[0] if x.ndim else 1
    c = x.size // n if n else 0
    e = 0
    payload = b""
    version = 1
    x2 = x.reshape(n, c)  # C order: channels are the trailing axes (a view of a C-ordered chunk)
    # integers of many channels: peaks and RMS from the integers, each stream's grid made from them
    # (_int_grid); up to 16 bits, no float64 copy of the chunk at all (_int_sumsq)
    ints = dt.kind in "iu" and c > 8 and x.flags.c_contiguous  # few channels: channel_exponents' own loop
    small = ints and dt.itemsize <= 2 and n < 2**20
    xf = None if small else np.asarray(x, dtype=np.float64).reshape(n, c)  # C order: channels are the trailing axes
    nan_rows = 0  # rows at the end that are NaN in every channel: zarr's fill padding with fill_value=NaN
    if dt.kind == "f":
        bad = ~np.isfinite(xf)
        if bad.any():
            allnan = np.isnan(xf).all(axis=1)[::-1]
            nan_rows = n if allnan.all() else int(np.argmin(allnan))
            bad[n - nan_rows :] = False
        if bad.any():
            i = int(np.argmax(bad.reshape(-1)))
            where = np.unravel_index(i, x.shape) if x.ndim else ()
            raise ValueError(f"tqa codec: chunk contains {xf.reshape(-1)[i]} at index {tuple(int(v) for v in where)}: "
                             "NaN and Inf cannot be encoded (but as rows of NaN at a chunk's end: zarr's fill)")  # fmt: skip
    flat = x.reshape(-1) if x.flags.c_contiguous or x.flags.f_contiguous else x.ravel()
    const = x.size == 0 or nan_rows == n or bool(np.all(flat == flat[0]))  # all NaN: a constant, its bits kept
    t = 0 if const else nan_rows or _tail_rows(x2)
    off, ext = chunk_offsets(x2[: n - t], dt)  # about the rows before a tail
    if t and not nan_rows and not _tail_pays(x2, t, off, ext):  # a tail at the level (trailing zeros of audio): coded
        off, ext = chunk_offsets(x2, dt)
        t = 0
    if t:  # a long constant tail away from the level (zarr's fill padding an edge chunk): stored, not coded
        flags |= _TAIL
        version = 5
        tail = x2[-1].copy()  # as it is: int64 beyond 2**53 stays exact
        x2 = x2[: n - t]
        xf = None if xf is None else xf[: n - t]
    if off.any() and xf is not None:
        xf = np.subtract(xf, off, out=None if np.may_share_memory(xf, x) else xf)  # never the caller's chunk
    if const:
        flags |= _CONST
        payload = flat[:1].tobytes()
    else:
        own = None if xf is None or np.may_share_memory(xf, x) else xf  # scale in place unless xf is the caller's chunk
        if dt.kind == "u" or off.any():
            flags |= _OFFSET
            version = max(version, 3 if dt.kind == "u" else 4)  # stop 24's reader knew offsets of unsigned chunks only
        peaks = _int_peaks(x2, off, ext) if ints else None
        if settings.scale == "channel":
            flags |= _PER_CHANNEL
            if small:
                exps = _exponents(peaks, np.sqrt(_int_sumsq(x2, off) / x2.shape[0]))
            else:
                exps = channel_exponents(xf, peaks)
            e_of = exps
        else:
            peak = float(np.max(peaks)) if ints else float(np.max(np.abs(xf)))
            e = math.frexp(peak)[1]  # peak / 2**e in [0.5, 1)
            e_of = np.full(c, e, np.int16)
        if dt.kind in "iu":  # each stream's grid straight from the integers (_int_grid)
            xs = None
        elif settings.scale == "channel":
            xs = _ldexp_channels(xf, -exps.astype(np.int32), own)
        else:
            xs = np.ldexp(xf, -e, out=own)
        groups = _groups(c, settings.stream_channels)
        if groups != _groups(c, MAX_STREAM_CHANNELS):
            version = max(version, 2)  # streams of other sizes than version 1's 4096: a version 1 reader would misread them
        own = 10 + 8 * x.ndim + (2 * c if flags & _PER_CHANNEL else 0) + (8 * c if flags & _OFFSET else 0) + 4 + 4 * len(groups)  # the chunk's bytes
        own += 8 + 8 * c if flags & _TAIL else 0
        parts, lo = [], 0
        for g in groups:
            if xs is None:
                s = _stream_encode(_int_grid(x2[:, lo : lo + g], off[lo : lo + g], e_of[lo : lo + g]), settings, own * g // c, True)
            else:
                s = _stream_encode(xs[:, lo : lo + g], settings, own * g // c)
            parts.append(struct.pack("<I", len(s)) + s)
            lo += g
        payload = b"".join(parts)
    head = struct.pack("<4sBBBB", CHUNK_MAGIC, version, DTYPE_CODES[name], flags, x.ndim)
    head += struct.pack(f"<{x.ndim}Q", *x.shape) + struct.pack("<h", e)
    if flags & _PER_CHANNEL:
        head += exps.astype("<i2").tobytes()
    if flags & _OFFSET:
        head += off.astype(_offset_kind(dt)).tobytes()
    if flags & _TAIL:
        head += struct.pack("<Q", t) + tail.astype(_offset_kind(dt)).tobytes()
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def chunk_info(data) -> dict:
    """The chunk header: dtype (with byte order), shape, order, scale exponent(s), offsets
    (chunks of version 3 or 4 with flag bit 4, else None), payload offset."""
    mv = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    if len(mv) < 14:
        raise ValueError(f"tqa codec: chunk of {len(mv)} bytes is too short for a chunk header")
    magic, version, code, flags, ndim = struct.unpack_from("<4sBBBB", mv)
    if magic != CHUNK_MAGIC:
        raise ValueError(f"tqa codec: not a tqa chunk (magic {bytes(magic)!r}, expected {CHUNK_MAGIC!r})")
    if version > VERSION:
        raise ValueError(f"tqa codec: chunk version {version} is newer than this reader ({VERSION}); upgrade tqa")
    end = 10 + 8 * ndim
    if ndim > MAX_NDIM or len(mv) < end + 4:
        raise ValueError("tqa codec: truncated or damaged chunk header")
    shape = struct.unpack_from(f"<{ndim}Q", mv, 8)
    n = shape[0] if ndim else 1
    c = math.prod(shape) // n if n else 0
    exps = offs = None
    okind = _offset_kind(np.dtype(_CODE_DTYPES[code])) if code in _CODE_DTYPES else "<u8"
    for flag, width, kind in ((_PER_CHANNEL, 2, "<i2"), (_OFFSET, 8, okind)):  # per channel, in this order
        if flags & flag:
            if c > (len(mv) - end - 4) // width:  # checked against the bytes there before reading
                raise ValueError("tqa codec: truncated or damaged chunk header")
            v = np.frombuffer(bytes(mv[end : end + width * c]), kind)
            exps, offs = (v.astype(np.int64), offs) if flag == _PER_CHANNEL else (exps, v)
            end += width * c
    tail_rows, tail = 0, None
    if flags & _TAIL:
        if c + 1 > (len(mv) - end - 4) // 8:  # checked against the bytes there before reading
            raise ValueError("tqa codec: truncated or damaged chunk header")
        (tail_rows,) = struct.unpack_from("<Q", mv, end)
        tail = np.frombuffer(bytes(mv[end + 8 : end + 8 + 8 * c]), okind)
        end += 8 + 8 * c
    (crc,) = struct.unpack_from("<I", mv, end)
    if crc != zlib.crc32(mv[:end]):
        raise ValueError("tqa codec: chunk header CRC mismatch (damaged chunk)")
    if code not in _CODE_DTYPES or flags & ~(_BIG | _CONST | _FORTRAN | _PER_CHANNEL | _OFFSET | _TAIL):
        raise ValueError(f"tqa codec: unknown dtype code {code} or flags {flags:#x}")
    (e,) = struct.unpack_from("<h", mv, 8 + 8 * ndim)
    dt = np.dtype(_CODE_DTYPES[code])
    if dt.itemsize > 1:
        dt = dt.newbyteorder(">" if flags & _BIG else "<")
    if offs is not None and (version < (3 if dt.kind == "u" else 4) or flags & _CONST or not _offsets_fit(offs, dt)):
        raise ValueError("tqa codec: damaged chunk header (offsets where the chunk takes none)")
    nan_tail = tail is not None and dt.kind == "f" and bool(np.isnan(tail).all())  # zarr's NaN fill: any length
    if tail is not None and (version < 5 or flags & _CONST or not (1 if nan_tail else TAIL_ROWS) <= tail_rows < n
                             or not (nan_tail or _offsets_fit(tail, dt))):  # fmt: skip
        raise ValueError("tqa codec: damaged chunk header (a tail the chunk cannot have)")
    size = math.prod(shape)
    return {"dtype": dt, "shape": tuple(int(s) for s in shape), "order": "F" if flags & _FORTRAN else "C",
            "constant": bool(flags & _CONST), "version": version, "scale_exponent": e, "channel_exponents": exps,
            "offsets": offs, "tail_rows": tail_rows, "tail": tail, "nbytes": size * dt.itemsize,
            "payload_offset": end + 4}  # fmt: skip


def _offsets_fit(offs: np.ndarray, dt: np.dtype) -> bool:
    """Whether stored offsets are values of the dtype (finite ones for floats)."""
    if not offs.size:
        return True
    if dt.kind == "f":
        return bool(np.all(np.abs(offs) <= float(np.finfo(dt).max)))  # NaN fails too
    info = np.iinfo(dt)
    return info.min <= int(offs.min()) and int(offs.max()) <= info.max


def decode_chunk(data, max_bytes: int | None = None, legacy: tuple | None = None, rows: tuple | None = None) -> np.ndarray:
    """Decode one chunk to an array of its own dtype, shape and memory order.

    ``legacy``: (dtype, channels) for plain .tqa streams written by tqa <= 0.2.
    ``rows``: (lo, hi) decodes only time rows lo..hi-1 (random access into the streams:
    only their frames covering the rows are decoded); the result has hi - lo rows.
    """
    from . import api

    raw = data if isinstance(data, (bytes, bytearray)) else memoryview(data).cast("B").tobytes()
    if raw[:4] == b"TQAF":  # tqa <= 0.2: a bare stream, dtype and channels from the config
        dtype, channels = legacy or ("<f4", 1)
        y = api.Decoder(bytes(raw)).read(dtype=np.dtype(dtype).name)
        if max_bytes is not None and y.nbytes > max_bytes:
            raise ValueError(f"tqa codec: decoded chunk exceeds max_buffer_size={max_bytes}")
        return y.astype(dtype, copy=False)
    if max_bytes is not None and len(raw) > max_bytes:
        raise ValueError(f"tqa codec: encoded chunk of {len(raw)} bytes exceeds max_buffer_size={max_bytes}")
    h = chunk_info(raw)
    if max_bytes is not None and h["nbytes"] > max_bytes:
        raise ValueError(f"tqa codec: decoded chunk of {h['nbytes']} bytes exceeds max_buffer_size={max_bytes}")
    dt, shape = h["dtype"], h["shape"]
    n = shape[0] if shape else 1
    c = math.prod(shape) // n if n else 0
    lo_row, hi_row = (0, n) if rows is None or not shape else (max(0, int(rows[0])), min(n, int(rows[1])))
    hi_row = max(hi_row, lo_row)
    m = hi_row - lo_row
    if h["constant"]:
        value = raw[h["payload_offset"] :]
        if len(value) != (dt.itemsize if n * c else 0):
            raise ValueError("tqa codec: damaged chunk (constant of the wrong size)")
        y = np.full((m, c), np.frombuffer(value, dt)[0] if n * c else 0, dt)
    else:
        if h["nbytes"] == 0:
            raise ValueError("tqa codec: damaged chunk (payload for an empty shape)")
        exps = h["channel_exponents"]
        e = np.full(c, h["scale_exponent"], np.int64) if exps is None else exps
        # the streams' samples times 2**e in one pass (Decoder._read_scaled) where 2**(e - 23) is normal
        fused = bool(c) and -999 < int(e.min()) and int(e.max()) < 999
        # native int16: scaled, rounded, clipped and transposed in one compiled pass (384 channels, 1 s:
        # the float64 chunk and _from_float's passes over it, ~150 of ~650 ms)
        kernel = _int16_kernel() if fused and dt == np.dtype(np.int16) else None
        offs = None if h["offsets"] is None else h["offsets"].astype(np.float64)  # the encoder's float64 integers, exactly
        nh = n - h["tail_rows"]  # rows the streams hold (a tail after them)
        mh = max(0, min(hi_row, nh) - lo_row)  # rows of them asked for
        g = (np.empty if mh == m else np.zeros)((m, c), np.int16 if kernel is not None else np.float64)
        pos, lo = h["payload_offset"], 0
        while lo < c:
            if pos + 4 > len(raw):
                raise ValueError("tqa codec: truncated chunk")
            (length,) = struct.unpack_from("<I", raw, pos)
            stream = raw[pos + 4 : pos + 4 + length]
            pos += 4 + length
            if len(stream) != length:
                raise ValueError("tqa codec: truncated chunk")
            dec = api.Decoder(bytes(stream))
            want = dec.header.channels if h["version"] >= 2 else min(MAX_STREAM_CHANNELS, c - lo)
            if dec.header.n_samples != nh or not 0 < dec.header.channels == want <= c - lo:
                raise ValueError(
                    f"tqa codec: damaged chunk: stream of {dec.header.n_samples} x {dec.header.channels}, "
                    f"header says {nh} x {min(want, c - lo)}"
                )
            if not mh:
                pass
            elif fused:
                dec._read_scaled(lo_row, lo_row + mh, np.ldexp(1.0, e[lo : lo + want].astype(np.int32)), g[:mh, lo : lo + want],
                                 kernel=kernel, offsets=None if offs is None else offs[lo : lo + want])  # fmt: skip
            else:
                g[:mh, lo : lo + want] = dec.read(lo_row, mh, dtype="float64").reshape(mh, want)
            lo += want
        if pos != len(raw):
            raise ValueError(f"tqa codec: {len(raw) - pos} stray bytes after the chunk's streams")
        if not fused:
            g = np.ldexp(g, h["scale_exponent"], out=g) if exps is None else _ldexp_channels(g, exps.astype(np.int32), g)
        y = g if kernel is not None else _from_float(g, dt, offs)
        if mh < m:  # the tail's rows, as stored
            y[mh:] = h["tail"].astype(dt)
    y = y.reshape((m,) + tuple(shape[1:]) if shape else shape)
    if h["order"] == "F":
        y = np.asfortranarray(y)
    return y


def _int16_kernel():
    from .sv2 import codec

    return codec.scaled_int16_kernel()


def _from_float(g: np.ndarray, dt: np.dtype, offsets: np.ndarray | None = None) -> np.ndarray:
    """(m, c) decoded values to samples of dtype: plus the offsets (the chunk's per-channel ones,
    float64, version 3 or 4; else unsigned: the mid code), rounded and clipped to the range."""
    native = dt.newbyteorder("=")
    if offsets is not None:
        g += offsets
    elif dt.kind == "u":
        g += float(2 ** (8 * dt.itemsize - 1))
    if dt.kind in "iu":
        info = np.iinfo(native)
        lo, hi = float(info.min), float(info.max)
        if hi >= 2.0**53:  # 64-bit: the float nearest the maximum rounds up past it
            hi = np.nextafter(hi, 0.0)
        out = np.clip(np.rint(g, out=g), lo, hi, out=g).astype(native)
    else:
        m = float(np.finfo(native).max)
        out = np.clip(g, -m, m, out=g).astype(native)
    return out.astype(dt, copy=False)
