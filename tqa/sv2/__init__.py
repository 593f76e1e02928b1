"""sv2: the second spectral profile (quality per bit).

Pipeline (encoder):
  grid samples (n, channels), integers on the 2**23 grid
  -> block-switched MDCT, hop N (frame f owns samples f·N .. (f+1)·N; one long block, or 8 short
     blocks on an attack, see tqa.sv2.transform), orthonormal; hard edges at the stream's ends
  -> per frame: L/R or orthonormal M/S (the cheaper by a bit estimate at the step)
  -> optional seeded Hadamard rotation inside each band of 16 (tqa.rotation.signs, label 4; off by
     default: with entropy coding it costs ~0.6 dB, measured)
  -> ONE quantizer step for the whole stream (constant slope: reverse water-filling through
     entropy coding), found on a subset of frames by secant/bisection (from a rate model of the
     band energies, calibrated by each search for the next) and corrected on the whole stream
     for ``rate=`` (bits/sample, everything included: the size predicted from the counts before
     coding) or by bisection for ``quality=`` (SQNR in dB of the whole stream)
  -> pre-echo guard: short blocks from 10 ms before an attack to the one after it use a finer step
     (2**(-e/2), e per block in the frame) so that their noise stays below the quietest part of
     their window (never below 4 16-bit LSBs RMS); digital silence (32-sample segments of exact
     zeros) is flagged and decodes as exact zeros
  -> uniform scalar quantization q = sign·floor(|x|/step + rho); bands whose indices are all 0
     are "empty" (class 0: no bits but their class symbol)
  -> band class c (3 dB grid of the band RMS in steps; context of the coefficient model) coded as
     a delta from the previous band; coefficients: msb = |q| >> shift(c) through a per-class table
     (escape 15 + Exp-Golomb above), shift(c) raw LSBs (byte-aligned bit planes), raw sign bits
  -> rANS (12-bit tables, one lane per frame: all frames stepped at once in NumPy, or per frame in
     numba when installed — byte-identical) with per-stream tables (5-bit log-probability codes
     in params)
  -> reconstruction at the cell centroids: |x| = (|q| - delta[c, min(|q|,3)]) · step, delta per
     class sent in params (the Lloyd–Max centroid condition, measured by the encoder)

Frame payload: header byte (bit 0 short frame, 1/2 left/right overlap short, 3 M/S, 4 silence map),
[8 step refinements if short], [silence map: channels × N/32 bits if bit 4], varint word count,
rANS words (u16 LE), LSB planes, sign and escape bits.  Frames depend only on params, never on
each other: a lost frame loses samples [f·N - N/2, (f+1)·N + N/2) at most.

tune="perceptual" (tqa.sv2.perceptual; params version 2, which version-1 readers refuse): the
encoder divides the coefficients by masking weights (per stream band, per frame, per frame and
group of 4 bands; all in the stream) before the quantizer, so stereo decisions and the step
search use the same weighted cost; frames add [noise record if header bit 5] and the frame's
gain codes after the silence map; the decoder fills empty bands (and zeros inside coded bands)
with seeded ±noise at the transmitted levels and multiplies by the weights, one NumPy post-step
(tqa.sv2.perceptual.post) after the entropy decoder.  tune="sqnr" streams are unchanged.

frame_floor= dB (tqa.sv2.floor; params version 3, which version-1/2 readers refuse): after the step
search the encoder decodes what it wrote and refines, frame by frame, the step of every frame
whose hop (of any channel) is above the quiet level and misses the floor on the decoded output
(header bit 5 + a byte r: the frame's coefficients × 2**(-r/4) after decoding), until none does.

API:
  params, frames = encode(grid, sample_rate=..., rate=... | quality=..., **settings)
  enc = Encoder(channels, **settings); enc.push(grid) ...; params, frames = enc.finish()   # streaming,
      bounded memory (the samples spooled to a temporary file); the same bytes as encode()
  samples = decode(params, frames)                          # whole stream (n, channels) float64 grid
  samples, start = decode_frames(params, payloads, first)   # frames first..first+len-1 (None = lost)
  samples = read(params, get_frame, start, stop)            # random access by sample range
  first, last = frame_range(params, start, stop)            # frames that read() fetches
  info(params) -> dict;  FrameError (ValueError) with .frame
Frame f owns samples [f·hop, (f+1)·hop); decoding those needs frames f-1, f, f+1.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import codec, transform
from . import floor as _floor
from . import perceptual as _perc
from ..profiles.base import InputChanged
from .codec import FrameError, Settings, parse_params

__all__ = ["encode", "Encoder", "decode", "decode_frames", "read", "info", "Settings", "FrameError", "frame_range"]

PARAMS_GUESS = 300  # bytes, for the rate budget before the tables exist


CHUNK = 256  # frames whose statistics are summed at a time (fewer where CHUNK_BYTES would not hold them)
DECODE_CHUNK = 512  # frames decoded at a time
# Keep the analyses of a stream up to this size, else recompute them per pass.  96 MiB holds those of a
# 1-s chunk of the 384-channel recording (two streams of 192 channels, 90 MiB each by this estimate):
# its encode 1.52 -> 1.28 s, same bytes, tracemalloc peak 116 -> 168 MiB (48 MiB held none of it).
CACHE_BYTES = 96 << 20
FINE_BYTES = 400 << 20  # quality=: the whole-stream search is finer on streams up to this size of analyses
# A long stream (the step from every 4th frame's counts) takes a size within these fractions of its
# rate: there a recount is a whole pass more (~30% of its encode), and every 4th frame's estimate is off
# by up to ~0.7% on varied material (tools/varied_inputs.py, 80-324 s: 10 of 12 encodes at rates 2,
# 3, 4 counted twice with [0.997, 1], 1 of 12 with these, at 0.9915-1.0004 of the rate).  Shorter
# streams aim at [0.997, 1].
LONG_SLACK = (0.991, 1.005)
SUBSET_FRAMES = 256  # frames the step search runs on (every k-th frame of a longer stream; fewer, see SUBSET_BYTES)
# Bytes of one (frames, channels, hop) float64 array of a chunk and of the search's subset: their
# frames are capped so (256 stereo frames at hop 2048 fit: mono and stereo never see the cap; a
# 64-channel stream gets chunks and subsets of 8 frames at hop 2048).
CHUNK_BYTES = SUBSET_BYTES = 8 << 20
PIECE_BYTES = 2 << 20  # float64 coefficients of the frames quantized, counted and packed at a time (64 stereo frames at hop 2048)
ENERGY_BYTES = 1 << 20  # float64 samples of a slice of the attack detector's energies
FRAME_BATCH = 256  # frames read back from a frame spool at a time


class _Energy:
    """Sub-block energies (:func:`tqa.sv2.codec.subblock_energy`) of a signal that arrives in
    pieces, worked out in slices of whole sub-blocks (m·512 samples, fewer for many channels:
    ENERGY_BYTES) with the first difference carried from one slice to the next: each
    sub-block's value is that of the whole array, bit for bit (tested)."""

    def __init__(self, m: int, channels: int) -> None:
        self.m, self.slice = m, m * max(1, min(512, ENERGY_BYTES // (8 * channels * m)))
        self._parts: list[np.ndarray] = []  # samples short of a whole slice
        self._held = 0
        self._prev: np.ndarray | None = None
        self._out: list[np.ndarray] = []
        self.samples = 0  # samples whose energies are out
        self._int16 = True  # every piece so far int16 16-bit samples: kept so (codec.energy_slice reads them as 256·x)

    def push(self, x: np.ndarray, last: bool = False) -> None:
        """Append (k, ch) grid samples: float64, or int16 16-bit samples (grid 256·x: kept as
        they are while every piece is int16, else made a slice at a time)."""
        if self._int16 and x.dtype != np.int16:  # from here on grid samples (the held ones too)
            self._int16 = False
            self._parts = [_grid(p) for p in self._parts]
            self._prev = None if self._prev is None else _grid(self._prev)
        conv = (lambda v, copy=False: v.copy() if copy else v) if self._int16 else _grid  # noqa: E731
        if self._held + x.shape[0] < self.slice and not last:
            if x.shape[0]:
                self._parts.append(conv(x, copy=True))
                self._held += x.shape[0]
            return
        if self._parts:
            x = np.concatenate(self._parts + [conv(x)])
            self._parts, self._held = [], 0
        end = x.shape[0] if last else x.shape[0] // self.slice * self.slice
        for lo in range(0, end, self.slice):
            blk = conv(x[lo : lo + self.slice])
            self._out.append(codec.energy_slice(blk, blk[:1] if self._prev is None else self._prev, self.m))
            self._prev = blk[-1:].copy()
        if end < x.shape[0]:
            self._parts, self._held = [conv(x[end:], copy=True)], x.shape[0] - end
        self.samples += end

    def finish(self, length: int, channels: int) -> np.ndarray:
        """The energies of the signal zero-padded to ``length`` samples (a multiple of m)."""
        self.push(np.zeros((max(0, length - self.samples - self._held), channels), np.int16 if self._int16 else np.float64), last=True)
        out = np.concatenate(self._out) if self._out else np.zeros(0)
        self._out = []
        return out


_grid = codec.grid_of  # grid samples as float64 (int16 16-bit samples times 256)


def _energy_plan(st: Settings, n: int) -> tuple[int, int] | None:
    """(m, padded length) of the sub-block energies the stream's hop candidates need, or None:
    128-sample ones over the signal padded to 2048 (hops 1024 and 2048 derive theirs), or hop/8
    over the signal padded to whole frames (hops 256 and 512)."""
    if not st.transients:
        return None
    if st.hop in ("auto", 1024, 2048):
        return 128, -(-max(n, 1) // 2048) * 2048
    return st.hop // transform.SHORT, max(1, -(-n // st.hop)) * st.hop


class _Source:
    """The grid samples an encoder reads: n samples of ch channels, zeros outside [0, n), and the
    sub-block energies of the attack detector (worked out as the samples arrive)."""

    n: int
    ch: int
    energy: tuple[int, np.ndarray] | None = None
    tmpdir: str | None = None

    def _rows(self, lo: int, hi: int, out: np.ndarray) -> None:  # samples lo..hi (0 <= lo < hi <= n) into out
        raise NotImplementedError

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples a..b (b - a, ch) float64, zero outside the stream."""
        out = np.empty((b - a, self.ch))
        lo, hi = max(a, 0), min(b, self.n)
        if hi > lo:
            self._rows(lo, hi, out[lo - a : hi - a])
            out[: lo - a] = 0.0  # zeroed outside the stream only (not every read: ~5000 a 5-minute encode)
            out[hi - a :] = 0.0
        else:
            out[...] = 0.0
        return out

    def segments(self, idx: np.ndarray, N: int) -> np.ndarray:
        """The 2N-sample segments (ch, len(idx), 2N) of frames idx (tqa.sv2.transform.segments of
        the padded hops), read run by run of consecutive frames."""
        idx = np.asarray(idx, np.int64)
        out = np.empty((self.ch, idx.size, 2 * N))
        cuts = np.concatenate(([0], np.flatnonzero(np.diff(idx) != 1) + 1, [idx.size]))
        if self._gather(idx, cuts, N, out):
            return out
        for i0, i1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            f0, k = int(idx[i0]), i1 - i0
            h = self.read(f0 * N - N // 2, (f0 + k) * N + N // 2).reshape(k + 1, N, self.ch).transpose(2, 0, 1)
            out[:, i0:i1, :N] = h[:, :-1]  # straight from the samples read (no transposed copy first)
            out[:, i0:i1, N:] = h[:, 1:]
        return out

    def _gather(self, idx: np.ndarray, cuts: np.ndarray, N: int, out: np.ndarray) -> bool:
        """:meth:`segments` into out at once, where the source can (False: run by run)."""
        return False

    def zero_rows(self, a: int, b: int) -> np.ndarray:
        """Samples a..b for the silence maps (only their zeros matter): :meth:`read`'s."""
        return self.read(a, b)

    def read16(self, a: int, b: int) -> np.ndarray | None:
        """:meth:`read`'s samples / 256 as int16 (zero outside the stream) where the source holds
        them so (an int16 spool), else None."""
        return None

    def new_frames(self):
        return _Frames()

    def seal(self) -> None:
        pass

    def check(self) -> None:
        """InputChanged if a file the samples are read back from changed (only a mirroring spool has one)."""

    def close(self) -> None:
        pass


class _ArraySource(_Source):
    """A whole (n, ch) array in memory (:func:`encode`)."""

    def __init__(self, x: np.ndarray, st: Settings) -> None:
        self.x, (self.n, self.ch) = x, x.shape
        plan = _energy_plan(st, self.n)
        if plan is not None:
            e = _Energy(plan[0], self.ch)
            e.push(x)
            self.energy = plan[0], e.finish(plan[1], self.ch)

    def _rows(self, lo: int, hi: int, out: np.ndarray) -> None:
        out[...] = self.x[lo:hi]

    def read(self, a: int, b: int) -> np.ndarray:
        """:meth:`_Source.read`; samples inside the stream are the array's own rows (a view: every
        reader only reads them; 384 channels, 1 s: 128 copies, ~6% of the encode)."""
        if 0 <= a <= b <= self.n:
            return self.x[a:b]
        return super().read(a, b)


class _Spool(_Source):
    """Grid samples spooled to an anonymous temporary file (interleaved) as they arrive, read
    back by range: the encoder's memory does not grow with the stream.  A 16-bit source's grid
    (multiples of 256 below 2**23) is spooled as int16 quotients, 2 bytes a sample; anything else
    as int32 (the file is widened to int32 when such a sample first comes).  The file has no name
    (it vanishes with the process, whatever happens) and is closed by :meth:`close`.

    :meth:`mirror`: 16-bit samples that are a file's bytes already (a PCM WAV's data chunk) are
    read back from that file instead of being copied (5 minutes of stereo: 53 MB neither written
    to nor kept in TMPDIR; its fresh page-cache pages cost ~0.17-0.19 s of CPU on a freshly booted
    VM of the benchmark machine, ~6 ms on a warm one)."""

    WIDEN_ROWS = 1 << 18  # samples per channel converted at a time when the spool is widened
    MERGE_BYTES = 1 << 15  # runs of frames this close are read in one pread: a read costs about as much as copying ~32 KiB
    COPY_BYTES = 4 << 20  # bytes copied at a time from a mirrored file into the spool (fallback)
    CHECK_ALL, CHECK_ROWS = 1 << 16, 1024  # a mirrored file's rows compared with the pushes (see _same_as_file)

    def __init__(self, channels: int, st: Settings, tmpdir: str | None = None) -> None:
        self.ch, self.n, self.st, self.tmpdir = channels, 0, st, tmpdir
        self._file = None  # the spool, made at the first write or read (an Encoder given hold() never makes one)
        self._src_fd: int | None = None  # the mirrored file (our duplicate of its descriptor), while mirrored
        self._base = 0  # the byte of sample 0 in the file read back
        self._sig: tuple | None = None  # its identity, size and modification time when mirroring began
        self._cmp = bytearray()  # a mirrored file's bytes of the latest push (reused: no fresh pages per push)
        self.short: bool | None = None  # int16 quotients (True), int32 (False); None before any sample
        plan = _energy_plan(st, 1)
        self._e = None if plan is None else _Energy(plan[0], channels)

    @property
    def _f(self):
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self.tmpdir)
        return self._file

    @_f.setter
    def _f(self, f) -> None:
        self._file = f

    @property
    def mirrored(self) -> bool:
        """Whether the samples are read back from the mirrored file (not from the spool)."""
        return self._src_fd is not None

    @property
    def _fd(self) -> int:
        """The file the samples are read back from."""
        return self._f.fileno() if self._src_fd is None else self._src_fd

    def mirror(self, fd: int, offset: int) -> bool:
        """Read the 16-bit samples back from the file open as ``fd`` (a duplicate of it is kept),
        where they are interleaved little-endian int16 from byte ``offset`` on, instead of
        spooling them.  The caller vouches that the pushes are those bytes; each :meth:`push_int16`
        is compared with them (the first 64 Ki rows whole, then each push's ends; a mismatch, or
        a push of grid samples: the file's rows so far are copied into the spool, which is
        written from there on, same bytes), and :meth:`check` refuses a file whose identity,
        size, modification or status-change time changed meanwhile.  Before any sample only;
        False where it cannot (samples pushed already)."""
        if self.n or self.short is not None or self.mirrored:
            return False
        st = os.fstat(fd)
        self._src_fd = os.dup(fd)
        self._base, self._sig = int(offset), _file_signature(st)
        return True

    def _same_as_file(self, x: np.ndarray) -> bool:
        """Whether the (k, ch) int16 samples x match the mirrored file's next ones: compared whole
        within the stream's first CHECK_ALL rows (a wrong offset or layout shows there) and where
        short, else their first and last CHECK_ROWS rows.  Comparing every push whole read the
        file once more and cost more CPU than the spool's write it replaces (fb5.wav, warm page
        cache: 45 vs 34 ms); what soundfile reads of a 16-bit PCM WAV is its bytes as they are."""
        k, c = x.shape[0], self.CHECK_ROWS
        whole = self.n < self.CHECK_ALL or k <= 2 * c
        return all(self._rows_match(x[lo:hi], self.n + lo) for lo, hi in ([(0, k)] if whole else [(0, c), (k - c, k)]))

    def _rows_match(self, x: np.ndarray, row: int) -> bool:
        size = x.size * 2
        if len(self._cmp) < size:
            self._cmp = bytearray(size)
        try:
            _pread_into(self._fd, memoryview(self._cmp)[:size], self._base + 2 * self.ch * row)
        except OSError:  # the file ends before them
            return False
        return np.array_equal(np.frombuffer(self._cmp, "<i2", x.size).reshape(x.shape), x)

    def _unmirror(self) -> None:
        """Copy the mirrored file's rows so far into the spool and spool from there on."""
        fd, size = self._src_fd, 2 * self.ch * self.n
        for lo in range(0, size, self.COPY_BYTES):
            self._f.write(self._pread(lo, min(self.COPY_BYTES, size - lo)))
        self._base, self._src_fd, self._sig, self._cmp = 0, None, None, bytearray()
        os.close(fd)

    def check(self) -> None:
        """InputChanged (a ValueError) if a mirrored file changed since :meth:`mirror`: its identity, size,
        modification or status-change time (a write that changes none of them goes unseen)."""
        if self.mirrored and _file_signature(os.fstat(self._src_fd)) != self._sig:
            raise InputChanged("sv2: the input file changed during the encode (its size or modification time)")

    def push(self, grid: np.ndarray) -> None:
        """Append (k, ch) grid samples (integers, |v| < 2**31)."""
        g = np.asarray(grid, np.float64)
        if g.shape[0] == 0:
            return
        if self.mirrored:
            self._unmirror()
        q = _as_int16(g) if self.short is not False else None
        if q is None:
            if self.short:
                self._widen()
            self.short = False
            q = _as_int32(g)
        else:
            self.short = True
        self._f.write(memoryview(q).cast("B"))
        self.n += g.shape[0]
        if self._e is not None:
            self._e.push(g)

    def push_int16(self, x: np.ndarray) -> None:
        """Append (k, ch) 16-bit samples (int16): the grid values 256·x, spooled as they are (no
        conversion to the grid and back: 2 passes over the samples fewer than :meth:`push`)."""
        if x.shape[0] == 0:
            return
        if self.short is False:  # the spool is int32 already
            self.push(np.multiply(x, 256.0))
            return
        self.short = True
        if self.mirrored and not self._same_as_file(x):
            self._unmirror()
        if not self.mirrored:
            self._f.write(memoryview(np.ascontiguousarray(x, np.int16)).cast("B"))
        self.n += x.shape[0]
        if self._e is not None:
            self._e.push(x)

    def _widen(self) -> None:
        """Rewrite the int16 spool as int32 grid values (a sample that is not a 16-bit one came)."""
        self._f.flush()
        wide = tempfile.TemporaryFile(dir=self.tmpdir)
        try:
            for lo in range(0, self.n, self.WIDEN_ROWS):
                k = min(self.WIDEN_ROWS, self.n - lo)
                v = _pread(self._f, 2 * self.ch * lo, 2 * self.ch * k).view("<i2")
                wide.write(memoryview(v.astype(np.int32) * np.int32(256)).cast("B"))
        except BaseException:
            wide.close()
            raise
        self._f.close()
        self._f, self.short = wide, False

    def seal(self) -> None:
        """No more samples: flush the spool, finish the energies (a mirrored file: checked)."""
        self._f.flush()
        self.check()
        plan = _energy_plan(self.st, self.n)
        if self._e is not None:
            self.energy = plan[0], self._e.finish(plan[1], self.ch)
            self._e = None

    def _rows(self, lo: int, hi: int, out: np.ndarray) -> None:
        if self.short:
            v = self._pread(2 * self.ch * lo, 2 * self.ch * (hi - lo)).view("<i2").reshape(hi - lo, self.ch)
            np.multiply(v, 256.0, out=out)
        else:
            out[...] = self._pread(4 * self.ch * lo, 4 * self.ch * (hi - lo)).view("<i4").reshape(hi - lo, self.ch)

    def _pread(self, offset: int, size: int) -> np.ndarray:
        """Bytes offset.. of the samples (spool or mirrored file) as uint8."""
        buf = bytearray(size)
        self._read_into(memoryview(buf), offset)
        return np.frombuffer(buf, np.uint8)

    def _read_into(self, view: memoryview, offset: int) -> None:
        try:
            _pread_into(self._fd, view, self._base + offset)
        except OSError:
            if self.mirrored:  # truncated after its samples were compared
                raise InputChanged("sv2: the input file changed during the encode (it is shorter)") from None
            raise

    def _gather(self, idx: np.ndarray, cuts: np.ndarray, N: int, out: np.ndarray) -> bool:
        """An int16 spool's runs of frames read into one buffer, runs closer than MERGE_BYTES in
        one pread (the samples between them read too), then every frame's 2N samples taken and
        scaled in one go: the step search's every 4th frame came in one run each (fb5.wav: ~4000
        reads in that pass; the short frames' segments in ~100 runs a call)."""
        if not self.short or idx.size == 0:
            return False
        ch, n = self.ch, self.n
        f0 = idx[cuts[:-1]]
        a = f0 * N - N // 2  # each run's samples a..b
        b = idx[cuts[1:] - 1] * N + N + N // 2
        gap = a[1:] - b[:-1]
        join = (gap >= 0) & (2 * ch * gap <= self.MERGE_BYTES)  # run i+1 read with run i
        head = np.concatenate(([True], ~join))
        span = np.cumsum(head) - 1  # each run's read
        A, B = a[head], b[np.concatenate((~join, [True]))]  # each read's samples A..B
        at = np.concatenate(([0], np.cumsum(B - A)))  # where each read's samples start in buf
        buf = bytearray(2 * ch * int(at[-1]))  # zero outside the stream
        view = memoryview(buf)
        for s0, s1, o in zip(np.maximum(A, 0).tolist(), np.minimum(B, n).tolist(), (at[:-1] + np.maximum(-A, 0)).tolist()):
            if s1 > s0:
                self._read_into(view[2 * ch * o : 2 * ch * (o + s1 - s0)], 2 * ch * s0)
        at = at[:-1][span] + (a - A[span])  # where each run's samples start in buf
        v = np.frombuffer(buf, "<i2").reshape(-1, ch)
        run = np.repeat(np.arange(cuts.size - 1), np.diff(cuts))
        first = at[run] + (idx - f0[run]) * N  # each frame's first sample in buf
        enc = codec._compiled_enc()
        if enc is not None and v.dtype.isnative:  # the same values in one compiled pass
            enc.segments16(v, first.astype(np.int64, copy=False), N, out)
            return True
        # whole 2N-sample windows taken along the samples (an index per window, not per sample:
        # ~6x faster than v[first[:, None] + arange(2N)] measured on 100 frames of N = 2048)
        np.multiply(sliding_window_view(v.T.copy(), 2 * N, axis=1)[:, first], 256.0, out=out)
        return True

    def zero_rows(self, a: int, b: int) -> np.ndarray:
        """:meth:`read`'s zeros: an int16 spool's samples as they are (no float64 grid made)."""
        q = self.read16(a, b)
        return self.read(a, b) if q is None else q

    def read16(self, a: int, b: int) -> np.ndarray | None:
        if not self.short:
            return None
        out = np.zeros((b - a, self.ch), np.int16)
        lo, hi = max(a, 0), min(b, self.n)
        if hi > lo:
            out[lo - a : hi - a] = self._pread(2 * self.ch * lo, 2 * self.ch * (hi - lo)).view("<i2").reshape(hi - lo, self.ch)
        return out

    def new_frames(self):
        return _FileFrames(self.tmpdir)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._src_fd is not None:
            os.close(self._src_fd)
            self._src_fd = None


def _file_signature(st: os.stat_result) -> tuple:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _as_int16(g: np.ndarray) -> np.ndarray | None:
    """Grid samples (k, ch) / 256 as C-ordered int16, or None where one is not a multiple of 256
    with its quotient in [-2**15, 2**15) (compiled: one pass, stopping at the first that is not)."""
    enc = codec._compiled_enc()
    q = np.empty(g.shape, np.int16)
    if enc is not None:
        return q if enc.to_int16(g.T, q) else None
    t = g * (1.0 / 256.0)
    with np.errstate(invalid="ignore"):  # NaN / out of range: unequal just below
        q[...] = t.astype(np.int16)
    return q if np.array_equal(q, t) else None


def _as_int32(g: np.ndarray) -> np.ndarray:
    """Grid samples (k, ch) as C-ordered int32; ValueError where one is not an integer below 2**31."""
    enc = codec._compiled_enc()
    if enc is not None:  # one pass: the conversion and its check
        q = np.empty(g.shape, np.int32)
        ok = enc.to_int32(g.T, q)
    else:
        with np.errstate(invalid="ignore"):  # NaN / out of range: refused just below
            q = g.astype(np.int32, order="C")
        ok = np.array_equal(q, g)
    if not ok:
        raise ValueError("sv2: streamed grid samples must be integers of magnitude below 2**31")
    return q


def _pread(f, offset: int, size: int) -> np.ndarray:
    return _pread_fd(f.fileno(), offset, size)


def _pread_fd(fd: int, offset: int, size: int) -> np.ndarray:
    buf = bytearray(size)
    _pread_into(fd, memoryview(buf), offset)
    return np.frombuffer(buf, np.uint8)


def _pread_into(fd: int, view: memoryview, offset: int) -> None:
    got, size = 0, len(view)
    while got < size:
        k = os.preadv(fd, [view[got:]], offset + got)
        if k <= 0:
            raise OSError("sv2: spool file shorter than written")
        got += k


class _Frames(list):
    """Coded payloads kept in memory (a list)."""

    @property
    def nbytes(self) -> int:
        return sum(map(len, self))

    def close(self) -> None:
        pass


class _FileFrames:
    """Coded payloads spooled to an anonymous temporary file; iterating reads them back in batches."""

    def __init__(self, tmpdir: str | None = None) -> None:
        self._f = tempfile.TemporaryFile(dir=tmpdir)
        self.lengths: list[int] = []
        self.nbytes = 0

    def extend(self, payloads: list[bytes]) -> None:
        self._f.write(b"".join(payloads))
        self.lengths += [len(b) for b in payloads]
        self.nbytes += sum(self.lengths[-len(payloads) :]) if payloads else 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        self._f.flush()
        off = 0
        for lo in range(0, len(self.lengths), FRAME_BATCH):
            ls = self.lengths[lo : lo + FRAME_BATCH]
            buf = _pread(self._f, off, sum(ls)).tobytes()
            off += len(buf)
            pos = 0
            for k in ls:
                yield buf[pos : pos + k]
                pos += k

    def close(self) -> None:
        self._f.close()


class _Kept:
    """The quantization of one whole pass (indices, classes, stereo and pre-echo choices), piece
    by piece in an anonymous temporary file (indices as int16 where they fit, -32767..32767:
    |-32768| does not fit int16, and a reader may take magnitudes): the coding pass at the same
    step reads it back instead of analysing and quantizing again.  ``memory``: the pass's own
    arrays kept as they are (a small stream, whose analyses are kept anyway): a 1-s stereo chunk
    spares ~1.5 ms of file writes and reads, and the int16 copies (~0.3 ms a pass, 3-6 passes)."""

    def __init__(self, step: float, tmpdir: str | None, memory: bool = False) -> None:
        self.step = step
        self._f = None if memory else tempfile.TemporaryFile(dir=tmpdir)
        self._mem: list[codec.Quantized] = []
        self._rec: list[tuple] = []
        self._off = 0

    def put(self, qz: codec.Quantized) -> None:
        if self._f is None:  # the arrays themselves (nothing writes to them after quantize)
            self._mem.append(codec.Quantized(self.step, qz.q, qz.cls, qz.ms, qz.e, None, None, qz.nl, qz.pg))
            return
        q = qz.q
        lo, hi = (int(q.min()), int(q.max())) if q.size else (0, 0)
        qd = np.int16 if -(2**15) < lo and hi < 2**15 else np.int32 if -(2**31) <= lo and hi < 2**31 else np.int64
        parts = (q.astype(qd), qz.cls.astype(np.int8), qz.ms.astype(np.uint8), qz.e.astype(np.int8))
        if qz.nl is not None:  # perceptual: the noise classes and frame gains
            parts += (qz.nl.astype(np.int8), qz.pg.astype(np.uint8))  # pg (F, 1 + groups)
        self._rec.append((self._off, q.shape, qd, qz.cls.shape, qz.e.shape, None if qz.nl is None else qz.nl.shape))
        size = 0
        for a in parts:  # the bytes of each array as they are (no joined copy)
            a = np.ascontiguousarray(a)
            self._f.write(memoryview(a).cast("B") if a.size else b"")
            size += a.nbytes
        self._off += size

    def get(self, j: int) -> codec.Quantized:
        if self._f is None:
            return self._mem[j]
        off, qs, qd, cs, es, ns = self._rec[j]
        sizes = (int(np.prod(qs)) * np.dtype(qd).itemsize, int(np.prod(cs)), qs[0], int(np.prod(es)))
        sizes += (int(np.prod(ns)), qs[0] * (1 + qs[2] // codec.BAND // _perc.LG)) if ns is not None else (0, 0)
        if j == 0:
            self._f.flush()
        buf = _pread(self._f, off, sum(sizes))
        cuts = np.cumsum((0,) + sizes)
        part = lambda k, dt: buf[cuts[k] : cuts[k + 1]].view(dt)  # noqa: E731
        q = part(0, qd).reshape(qs)  # int16 as it is for the compiled packer, else int64
        q = q if qd == np.int16 and codec._compiled_enc() is not None else q.astype(np.int64)
        return codec.Quantized(self.step, q, part(1, np.int8).reshape(cs).astype(np.int64),
                               part(2, np.uint8).astype(bool), part(3, np.int8).reshape(es).astype(np.int64), None, None,
                               part(4, np.int8).reshape(ns) if ns is not None else None,
                               part(5, np.uint8).reshape(qs[0], -1).astype(np.int64) if ns is not None else None)  # fmt: skip

    def close(self) -> None:
        self._mem = []
        if self._f is not None:
            self._f.close()


_LATER = object()  # a value made when first asked for


class _Stream:
    """The encoder's view of a stream at one hop: frame kinds, overlaps; analyses by chunk."""

    def __init__(self, src: _Source, st: Settings) -> None:
        ch, n = src.ch, src.n
        N = st.hop
        self.src, self.st, self.n, self.ch, self.N = src, st, n, ch, N
        self.F = F = max(1, -(-n // N))
        if st.transients:
            m = N // transform.SHORT
            em, e = src.energy  # 128-sample energies (averaged to the hop's sub-blocks), or the hop's own
            e = e[: F * N // em].reshape(-1, m // em).mean(axis=1)
            self.short, self.guard = codec.detect_attacks(e, N, st.attack_ratio, st.sample_rate)
            if st.tune == "perceptual" and st.release > 0:  # hard stops too (no guard: nothing quiet before)
                self.short = self.short | codec.detect_releases(e, st.release, n // m)
        else:
            self.short, self.guard = np.zeros(F, bool), np.zeros((F, transform.SHORT), bool)
        self.r = transform.overlaps(self.short, N)
        self.chunk = c = _frames_in(CHUNK_BYTES, ch, N, CHUNK)
        self.chunks = [np.arange(lo, min(lo + c, F)) for lo in range(0, F, c)]
        self.sub = _piece_frames(ch, N)
        self._e_lo = _LATER if st.preecho and self.short.any() else None
        self._e_lo_st = st  # the settings they are made with (no perceptual weights: those divide them later)
        per_frame = ch * N * 8 * (4 if ch == 2 else 2)  # X, XM, v, Y...
        self.fine = F * per_frame <= FINE_BYTES
        self._cache = {} if F * per_frame <= CACHE_BYTES else None
        self._kept: _Kept | None = None
        self.floor_step: np.ndarray | None = None  # frame_floor: each frame's largest step (tqa.sv2.floor), inf = none
        self.floor_sig: np.ndarray | None = None  # frame_floor: the source's energy per hop and channel (F, ch)

    @property
    def e_lo(self) -> np.ndarray | None:
        """The pre-echo guard's levels of the short frames (F, SHORT), ahead of their analyses
        (None without short frames or guard), made when first asked for: the hop candidate that
        loses (:func:`_pick_hop`) never asks (fb5.wav: hop 2048's, ~0.04 s of CPU spared)."""
        if self._e_lo is _LATER:
            e_lo = np.zeros((self.F, transform.SHORT))
            sel = np.flatnonzero(self.short)
            for sl in _slices(sel.size, self.sub):
                seg = self.src.segments(sel[sl], self.N)
                e_lo[sel[sl]] = codec.preecho_levels(seg, np.ones(seg.shape[1], bool), self._e_lo_st)[0]
            self._e_lo = e_lo
        return self._e_lo

    @e_lo.setter
    def e_lo(self, v: np.ndarray | None) -> None:
        self._e_lo = v

    def ref(self, step: float) -> np.ndarray | None:
        """frame_floor: each frame's step refinement at this global step (quarter octaves), or None."""
        return None if self.floor_step is None else _floor.refinements(step, self.floor_step)

    def _analyze(self, idx: np.ndarray) -> codec.Analysis:
        N = self.N
        if idx.size and int(idx[-1]) - int(idx[0]) == idx.size - 1 and codec._compiled_enc() is not None:
            # consecutive frames: the compiled transform reads their samples as they are
            f0 = int(idx[0])
            a, b = f0 * N - N // 2, (f0 + idx.size) * N + N // 2
            blk = self.src.read16(a, b)  # an int16 spool's samples as they are (fb5.wav: ~3% of the encode)
            blk = self.src.read(a, b) if blk is None else blk
            return codec.analyze(None, self.short[idx], self.r[idx], self.r[idx + 1], self.st, self.guard[idx], block=blk)
        return codec.analyze(self.src.segments(idx, N), self.short[idx], self.r[idx], self.r[idx + 1], self.st,
                             self.guard[idx])  # fmt: skip

    def analysis(self, idx: np.ndarray) -> codec.Analysis:
        """Frames idx, analysed piece by piece (the transform gives each frame the same values
        whatever the batch) and joined."""
        return codec.Analysis.join([self._analyze(idx[sl]) for sl in _slices(idx.size, self.sub)])

    def pieces(self, idx: np.ndarray, i: int | None = None):
        """(frames, analysis) of frames idx, analysed piece by piece as they are asked for (chunk
        i of a small stream: all kept)."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        it = ((idx[sl], self._analyze(idx[sl])) for sl in _slices(idx.size, self.sub))
        if self._cache is not None and i is not None:
            self._cache[i] = list(it)
            return self._cache[i]
        return it

    def seed(self, A: codec.Analysis) -> None:
        """Keep the analysis of all frames (made by the step search) for the passes, as
        :meth:`pieces` would make them (a small stream's cache)."""
        if self._cache is not None:
            for i, blk in enumerate(self.chunks):
                self._cache[i] = [(blk[sl], A.subset(slice(int(blk[sl][0]), int(blk[sl][-1]) + 1)))
                                  for sl in _slices(blk.size, self.sub)]  # fmt: skip

    def divide(self, idx: np.ndarray, step: float) -> bool:
        """Whether quantizing frames idx at once divides by per-block steps (see codec.quantize)."""
        if self.e_lo is None:
            return False
        ref = self.ref(step)
        e_lo = self.e_lo[idx] if ref is None else self.e_lo[idx] / _floor.FACTOR[ref[idx]][:, None] ** 2
        return bool(codec.shift_of(e_lo, self.guard[idx], self.short[idx], step).any())

    def quantized(self, idx: np.ndarray, step: float, i: int | None = None):
        """(frames, quantized) of frames idx piece by piece, with the values of quantizing them at once."""
        div, ref = self.divide(idx, step), self.ref(step)
        for f, A in self.pieces(idx, i):
            if ref is not None and ref[f].any():  # frame_floor: these frames at finer steps
                A = _floor.scale_analysis(A, ref[f])
            yield f, codec.quantize(A, step, self.st, div)

    def counts(self, step: float, every: int = 1, keep: bool = False, errors: "_Errors | None" = None) -> dict:
        """Statistics of the whole stream (every=1) or of every k-th frame, summed chunk by chunk;
        ``keep``: keep the quantization for :meth:`code` at this step (whole stream only);
        ``errors``: its squared error summed into them too (:class:`_Errors`)."""
        k = None
        if every == 1:
            blocks = enumerate(self.chunks)
        else:
            idx = np.arange(every // 2, self.F, every)
            blocks = ((None, idx[lo : lo + self.chunk]) for lo in range(0, idx.size, self.chunk))
        self.forget()
        kept = _Kept(step, self.src.tmpdir, self._cache is not None) if keep and every == 1 else None
        for i, blk in blocks:
            kc = None
            for _, qz in self.quantized(blk, step, i):
                kc = codec.counts(qz, kc, centroids=every == 1)
                if errors is not None:
                    errors.add(qz)
                if kept is not None:
                    kept.put(qz)
            k = codec.add_counts(k, kc)
        self._kept = kept
        return k

    def forget(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def bits(self, k: dict) -> float:
        return codec.bits_of_counts(k) + 64 * int(self.short.sum())

    def code(self, step: float, tab: codec.Tables):
        """The payloads at this step (a list, or a frame spool for a spooled source)."""
        frames = self.src.new_frames()
        N, ref = self.N, self.ref(step)
        for _, idx, qz in self.replay(step):
            a, b = int(idx[0]), int(idx[-1]) + 1
            zm = codec.zero_map(self.src.zero_rows(a * N, b * N), N) if self.st.silence else None
            pl = codec.pack_frames(qz, tab, self.short[a:b], self.r[a : b + 1], zm)
            frames.extend(pl if ref is None else _floor.mark(pl, ref[a:b]))
        return frames

    def replay(self, step: float):
        """(chunk, frames, quantized) of the whole stream at this step, piece by piece: read back
        from the last pass if it kept them, else made again."""
        kept = self._kept
        if kept is None or kept.step != step:
            kept = None
        j = 0
        for i, blk in enumerate(self.chunks):
            if kept is None:
                for idx, qz in self.quantized(blk, step, i):
                    yield i, idx, qz
                continue
            for sl in _slices(blk.size, self.sub):
                yield i, blk[sl], kept.get(j)
                j += 1


def _piece_frames(ch: int, N: int) -> int:
    """Frames quantized, counted and packed at a time: PIECE_BYTES of coefficients."""
    return _frames_in(PIECE_BYTES, ch, N, CHUNK)


def _frames_in(nbytes: int, ch: int, N: int, most: int) -> int:
    """Frames of float64 coefficients (ch, N) each that nbytes hold: 1 to ``most``."""
    return max(1, min(most, nbytes // (8 * ch * N)))


def _slices(n: int, k: int) -> list[slice]:
    return [slice(lo, min(lo + k, n)) for lo in range(0, n, k)]


def _frame_fixed_bytes(st: Settings) -> float:
    return st.frame_overhead + 1 + 2 + 4 + 0.5  # container, header, varint, rANS state, raw padding


def _search(f, target: float, lo: float, hi: float, tol: float = 0.002) -> float:
    """Largest log2 step in [lo, hi] with f(log2 step) <= target, f decreasing (bisection)."""
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return hi


def _subset_idx(S: _Stream) -> np.ndarray:
    """The frames of the step search's subset: every k-th (all of a short stream)."""
    k = max(1, S.F // _frames_in(SUBSET_BYTES, S.ch, S.N, SUBSET_FRAMES))
    return np.arange(k // 2, S.F, k) if k > 1 else np.arange(S.F)


def _subset(S: _Stream) -> tuple[codec.Analysis, float]:
    idx = _subset_idx(S)
    return S.analysis(idx), S.F / idx.size


def _sub_counts(A: codec.Analysis, st: Settings, ls: float) -> dict:
    k = None
    div = bool(st.preecho) and bool(codec.preecho_shift(A, 2.0**ls).any())
    for sl in _slices(A.X.shape[0], _piece_frames(A.X.shape[1], A.X.shape[2])):  # in pieces: the counts of the whole
        k = codec.counts(codec.quantize(A.subset(sl), 2.0**ls, st, div), k, centroids=False)
    return k


def _sub_bits(A: codec.Analysis, st: Settings, ls: float, seen: dict | None = None) -> float:
    """Estimated payload bits of the frames of A at log2 step ls (their entropy); ``seen``: the
    bits at the code lengths of their own tables (:func:`codec.coded_bits`, what the coded
    size follows) instead, and their counts kept under ls."""
    k = _sub_counts(A, st, ls)
    if seen is None:
        return codec.bits_of_counts(k) + 64 * int(A.short.sum())
    seen[ls] = k
    return codec.coded_bits(k, codec.tables_of_counts(k)) + 64 * int(A.short.sum())


# The rate model's offset c (log2 steps) of bits ~ sum over bands of BAND * max(0, log2(band RMS /
# step) + c): measured 2.2-2.7 on 1-s chunks of music and of the 384-channel recording at 2.5-4.5
# bits/sample.  Only the search's first guess: the secant then meets the counted bits.
MODEL_C = 2.5


class _RateModel:
    """bits(g) ~ BAND * sum_b max(0, L_b - g + c), L_b = log2 of band b's RMS (the cheaper stereo
    form's), g = log2 step: piecewise linear, solved exactly on the sorted levels.  A first guess
    of the step search (and of its slope) from the band energies alone; c (and the slope's ratio
    to the model's) is calibrated by each search, so the next one on the same signal (the other
    hop, the whole stream) starts within a few tenths of a percent of its target."""

    def __init__(self, A: codec.Analysis) -> None:
        EB = A.EB if A.EBM is None else np.minimum(A.EB, A.EBM)
        e = EB[EB > 0]
        self.L = np.sort(0.5 * np.log2(e / codec.BAND))[::-1]
        self.cs = np.cumsum(self.L)
        self.H = codec.BAND * (self.cs - np.arange(1, self.L.size + 1) * self.L)  # bits at g - c = L_m, increasing
        self.rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0  # the searches' bracket is about log2 of it

    @staticmethod
    def of(A: codec.Analysis) -> "_RateModel":
        """A's model, made once (the hop choice and the rate search ask for the same frames')."""
        m = A.__dict__.get("_rate_model")
        if m is None:
            m = A.__dict__["_rate_model"] = _RateModel(A)
        return m

    def solve(self, target: float) -> tuple[float, float] | None:
        """(g - c, d bits / d g) where the model's bits are target; None for a silent subset."""
        if self.L.size == 0 or not target > 0:
            return None
        m = int(np.searchsorted(self.H, target, side="right"))  # bands coded at the solution
        return (float(self.cs[m - 1]) - target / codec.BAND) / m, -codec.BAND * m


def _secant(f, target: float, A: codec.Analysis, st: Settings, cal: tuple[float, float] = (MODEL_C, 1.0),
            scale: float = 1.0) -> tuple[float, float, tuple[float, float]]:  # fmt: skip
    """log2 step where f (bits, decreasing in log2 step) meets target, the slope there, and the
    rate model's calibration (c, slope ratio) it found: secant steps inside a bracket that
    bisection keeps (f is monotone, nearly linear), from the model's guess (:class:`_RateModel`
    of A, whose frames f counts ``scale`` times, calibrated by ``cal``)."""
    rm = _RateModel.of(A)
    rms = rm.rms
    lo, hi = math.log2(rms) - 40, math.log2(rms) + 12  # f(lo) > target >= f(hi)
    model = rm.solve(target / scale)
    if model is None:
        g = math.log2(rms) - max(0.5, st.rate or 3.0)
        fg = f(g)
        slope = -0.5 * A.X.size * (fg / max(A.X.size, 1) + 1)
    else:  # 2-4 evaluations (from log2(rms) - rate: 4-8)
        g = min(max(model[0] + cal[0], lo + 1), hi - 1)
        fg = f(g)
        slope = model[1] * cal[1] * scale
    for _ in range(30):
        if fg > target:
            lo = g
        else:
            hi = g
        if abs(fg - target) <= 0.001 * target or hi - lo < 0.002:
            break
        nxt = g + (target - fg) / slope if slope < 0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        fn = f(nxt)
        if nxt != g and fn != fg:
            slope = (fn - fg) / (nxt - g)
        g, fg = nxt, fn
    if slope >= 0:
        slope = (f(g + 0.05) - f(g - 0.05)) / 0.1
    if model is None or slope >= 0:
        return g, slope, cal
    return g, slope, (g - model[0], min(max(slope / (model[1] * scale), 0.25), 4.0))


def _log2_step(g: float) -> float:
    """log2 of the step nearest 2**g that an encoder may send (a search's far step: no overflow)."""
    return math.log2(codec.clamp_step(2.0 ** min(max(g, -1000.0), 1000.0)))


def _predicted_bits(S: _Stream, k: dict, g: float, scale: float = 1.0) -> float:
    """The stream's size in bits at log2 step g from the counts k of its frames (or of a subset,
    counted ``scale`` times): the symbols at their tables' code lengths, the raw bits, the short
    frames' step refinements, params, container, and per frame what a frame spends besides its
    symbols: its header byte, rANS state, padding and word count (a varint of 1-2 bytes across
    frames of 100-300 words), fitted to the frames of the corpus: 5.9 bytes for mono frames of
    ~70 words, 5.6 at ~130, 6.2 at ~280, 6.4-7.0 for stereo ones of ~400 (within ~0.1%)."""
    st = S.st
    tab = codec.tables_of_counts(k)
    sym = codec.coded_bits(k, tab)
    words = scale * (sym - k["raw"]) / 16 / S.F  # the mean frame's rANS words
    frame = st.frame_overhead + 5.8 + min(1.0, max(0.0, (words - 100) / 200)) + (words >= 16384)
    return scale * sym + 64 * int(S.short.sum()) + 8 * (codec.params_size(st, tab) + st.stream_overhead + S.F * frame)


def _rate_encode(S: _Stream, target: float, prior: "_Found | None" = None) -> tuple[bytes, list[bytes]]:
    """The stream at ``target`` bits (all included): the step from the subset's secant (from the
    hop choice's search on S: its analysis where the subset is the same, its calibration), one
    secant step on a larger estimate for long streams, then coded until the size is right."""
    st = S.st
    fixed = 8 * (S.F * _frame_fixed_bytes(st) + PARAMS_GUESS + st.stream_overhead)
    budget = 0.999 * target - fixed  # coded_bits: within ~0.05% of the coded size
    idx = _subset_idx(S)
    same = prior is not None and np.array_equal(prior.idx, idx)
    A, scale = prior.A if same else S.analysis(idx), S.F / idx.size
    if prior is not None:
        prior.A = None  # freed with A below
    cal = prior.cal if prior is not None else (MODEL_C, 1.0)
    goal = 0.999 * target
    seen: dict = {}
    preds: dict = {}  # scale 1: the predicted size at each step tried
    if scale == 1:
        # The subset is the stream: each step tried is a whole pass whose quantization is kept, and
        # the secant meets the size these counts predict (side info included), so the last step
        # tried is coded as it is (a 1-s chunk: one quantize-and-count pass and two table builds
        # fewer).  fixed: as in budget, so the rate model's guess is the same.
        S.seed(A)

        def whole(ls: float) -> float:
            seen[ls] = S.counts(2.0**ls, keep=True)
            preds[ls] = _predicted_bits(S, seen[ls], ls)
            return preds[ls] - fixed

        g, slope, _ = _secant(whole, budget, A, st, cal)
    else:
        g, slope, _ = _secant(lambda ls: scale * _sub_bits(A, st, ls, seen), budget, A, st, cal, scale)
    del A
    if scale > 1 and slope < -1.0 and g in seen:  # the side info's own size at this step, not the guesses
        g += (goal - _predicted_bits(S, seen[g], g, scale)) / slope
    if slope < -1.0 and S.F >= 4 * SUBSET_FRAMES:  # one secant step on an estimate from every 4th frame
        kp = S.counts(2.0**g, 4)
        g += (goal - _predicted_bits(S, kp, g, S.F / np.arange(2, S.F, 4).size)) / slope
    g = _log2_step(g)
    kept = S._kept
    k = seen[g] if scale == 1 and g in seen and kept is not None and kept.step == 2.0**g else S.counts(2.0**g, keep=True)
    del seen
    lo, hi = LONG_SLACK if S.F >= 4 * SUBSET_FRAMES else (0.997, 1.0)
    for _ in range(2):  # the size these counts predict (within ~0.1%) out of [lo, hi]: move the step first
        pred = (preds[g] if g in preds else _predicted_bits(S, k, g)) if slope < -1.0 else target
        if lo * target <= pred <= hi * target:
            break
        g = _log2_step(g + min(2.0, max(-2.0, (pred - goal) / -slope)))
        k = S.counts(2.0**g, keep=True)
    best = last = None  # (params, frames): the best within the budget, the latest over it
    for it in range(8):  # exact size; move the step until within the budget (and not far below it)
        tab = codec.tables_of_counts(k)
        params = codec.pack_params(st, S.ch, S.n, 2.0**g, tab)
        frames = S.code(2.0**g, tab)
        size = 8 * (len(params) + frames.nbytes + st.frame_overhead * S.F + st.stream_overhead)
        if slope > -1.0:  # silence, or a stream too short for its side info
            return params, frames
        if last is not None:
            last[1].close()
            last = None
        if size <= hi * target:
            if best is not None:
                best[1].close()
            best = (params, frames)
            if size >= 0.99 * target or it >= 3:
                break
            g -= (target - size) / -slope * 0.9  # well below: spend what is left
        else:
            last = (params, frames)
            if best is not None and it >= 3:
                break
            g += (size - target) / -slope * 1.05 + 0.0005
        g = _log2_step(g)
        k = S.counts(2.0**g, keep=True)
    if best is None:
        return last
    if last is not None:
        last[1].close()
    return best


# SQNR falls ~6.02 dB per doubling of a uniform quantizer's step (20 log10 2), less where bands
# fall to zero (4.2-5.6 between the first two steps tried on 1-s chunks of the corpus at
# quality=38): the quality search's first slope only; each evaluation then measures it.
QUALITY_SLOPE = 5.0
# The whole-stream quality search's tolerance (log2 step) on streams up to FINE_BYTES of analyses:
# near the root the SQNR wiggles by ~0.01 dB from step to step (the tables' rounding), as much as
# 0.002 (the tolerance before) moves it, so a bracket that fine took several evaluations to close;
# 0.005 costs at most ~0.1% of the bits (see _largest_passing).
FINE_TOL = 0.005


def _largest_passing(f, x: float, tol: float, bounds: tuple[float, float], slope: float = QUALITY_SLOPE,
                     most: int = 40) -> tuple[float, float]:  # fmt: skip
    """(largest x in bounds found with f(x) >= 0 within tol, the slope there), f decreasing in x
    (an SQNR margin per log2 step) and nearly linear.  Each step aims tol/2 below the root that
    the secant (the slope of the last two evaluations at least tol apart) predicts, and a
    passing x whose margin puts that root less than tol above it is the answer.  A step that fails brackets the root
    (lo passes, hi does not), which points tol/2 inside the bracket, either side of the root the
    secant from its end nearer the root predicts, then close below tol (every 8th step bisects,
    in case f is not smooth).  With the quality search's first guess (:func:`_quality_guess`) and
    FINE_TOL, on 72 1-s chunks of the corpus at quality=38: 3.0 evaluations a chunk (7 at most)
    where closing a bracket below 0.002 from the old guess took 6.2 (11), for 0.05% more bits at
    the same SQNR (tools/quality_search.py).  Where f passes at the upper bound that is the answer; where it fails at the
    lower one, the lower one."""
    a, b = bounds
    x = min(max(x, a), b)
    lo = hi = prev = None
    for it in range(most):
        v = f(x)
        if prev is not None and abs(x - prev[0]) >= tol:  # closer points: a slope of f's wiggles
            s = (prev[1] - v) / (x - prev[0])
            if s > 0:  # nan (inf - inf) and a step against the trend keep the last slope
                slope = max(0.5, min(50.0, s))
        prev = (x, v) if prev is None or abs(x - prev[0]) >= tol else prev
        if v >= 0:
            lo = (x, v)
            if x >= b or v <= tol * slope:
                break
        else:
            hi = (x, v)
            if x <= a:
                return a, slope
        if hi is None:  # passing so far: a secant step to tol/2 below the root
            x = min(x + min(v, 1e3) / slope - 0.5 * tol, b)
            continue
        if lo is None:  # failing so far: a secant step below the root, by strides that double
            x = max(x + max(v, -1e3) / slope - 0.45 * tol * 2.0**it, a)
            continue
        if hi[0] - lo[0] < tol:
            break
        end = lo if lo[1] <= -hi[1] else hi
        r = min(max(end[0] + end[1] / slope, lo[0]), hi[0])
        if it % 8 == 7:
            x = 0.5 * (lo[0] + hi[0])
        elif lo[0] < r - 0.45 * tol:  # just below the root: expected to pass
            x = min(r - 0.45 * tol, hi[0] - 0.5 * tol)
        else:  # just above it: expected to fail
            x = max(r + 0.45 * tol, lo[0] + 0.5 * tol)
    return lo[0], slope


# The quality search's first guess models a band's error at step s as min(its energy, BAND * s^2 / 12):
# a zero band loses its energy, a coded one a uniform quantizer's error.  At the step the search
# finds on 1-s chunks of the corpus at quality=38 the model's SQNR is 2.5 dB below to 0.9 above
# the SQNR measured there, mostly below (the centroids do better than s^2 / 12), so the first step
# tried mostly passes near the root; the guess before, a uniform quantizer's SQNR of the RMS
# (20 log10(rms / s) + 10.8 dB), was 1.6-6.7 dB off.


def _quality_guess(A: codec.Analysis, quality: float) -> float | None:
    """log2 step where the model puts the SQNR of the frames of A at quality, from their band
    energies (the cheaper stereo form's, as the rate model); None for silence."""
    EB = A.EB if A.EBM is None else np.minimum(A.EB, A.EBM)
    e = np.sort(EB, axis=None)
    total = float(np.sum(A.EB))
    if not total > 0:
        return None
    want = total * 10 ** (-quality / 10)  # the error the target allows
    n = e.size
    below = np.concatenate(([0.0], np.cumsum(e)[:-1]))  # energy of the bands below each
    at = below + e * (n - np.arange(n))  # the model's error where the threshold is each band's energy
    k = int(np.searchsorted(at, want))
    if k >= n:
        return None
    t = (want - below[k]) / (n - k)  # the threshold BAND * s^2 / 12
    return 0.5 * math.log2(t * 12 / codec.BAND) if t > 0 else None


def _quality_encode(S: _Stream) -> tuple[bytes, list[bytes]]:
    """The largest step whose whole-stream SQNR meets quality (:func:`_largest_passing`, first on
    the step search's subset, then from its answer on the stream; distortion measured in the
    orthonormal transform domain, with this step's own centroids, from the counting pass's own
    sums (:class:`_Errors`): a reconstruction pass per step was ~40% of a 1-s chunk's encode)."""
    st = S.st

    sig: list[float] = []  # the stream's coefficient energy (the same at every step: orthonormal transforms)

    # A small stream's passes keep their quantization (in memory, :class:`_Kept`): the coding
    # pass takes that of the largest passing step tried, which is the answer but where the search
    # ends at a bound (a 1-s chunk: one quantize-and-count pass of ~4 fewer).
    reuse = S._cache is not None
    best: dict = {}

    def sqnr(ls: float) -> float:
        step = codec.clamp_step(2.0 ** _log2_step(ls))  # the step as it is sent
        err = _Errors(signal=not sig)
        k = S.counts(step, keep=reuse, errors=err)
        if not sig:
            sig.append(err.sig)
        e = err.total(k, step)
        v = float("inf") if e == 0 else 10 * math.log10(sig[0] / e) if sig[0] > 0 else float("inf")
        if reuse and v >= st.quality and ls > best.get("ls", -math.inf):
            if "kept" in best:
                best["kept"].close()
            best.update(ls=ls, k=k, kept=S._kept)
            S._kept = None  # not closed by the next pass
        return v

    def sub_sqnr(ls: float) -> float:
        step = 2.0**ls
        qz = codec.quantize(A, step, st)
        k = codec.counts(qz)  # before the error sums, which take qz.v
        err = _Errors(signal=True).add(qz)
        e = err.total(k, step)
        return float("inf") if e == 0 else 10 * math.log10(err.sig / e) if err.sig > 0 else float("inf")

    def margin(fn):
        return lambda ls: fn(ls) - st.quality  # silence: inf (passes at every step up to the bound)

    A, scale = _subset(S)
    rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0
    bounds = math.log2(rms) - 40, math.log2(rms) + 12  # the bisection's old bracket
    g, slope = _quality_guess(A, st.quality), QUALITY_SLOPE
    if g is None:  # silence: a uniform quantizer's SQNR, 20 log10(rms / step) + 10.8 dB
        g = math.log2(rms) - (st.quality - 10.8) / QUALITY_SLOPE
    if scale > 1:  # a subset of the frames first (where it is all of them, straight to the stream)
        g, slope = _largest_passing(margin(sub_sqnr), g, 0.01, bounds)
    else:
        S.seed(A)  # the passes' analysis (a small stream's, kept), not made again
    del A
    lo, _ = _largest_passing(margin(sqnr), g, FINE_TOL if S.fine else 0.01, bounds, slope)
    step = codec.clamp_step(2.0 ** _log2_step(lo))
    if best.get("ls") == lo:
        S.forget()
        S._kept, k = best["kept"], best["k"]
    else:
        if "kept" in best:
            best["kept"].close()
        k = S.counts(step, keep=True)
    tab = codec.tables_of_counts(k)
    return codec.pack_params(st, S.ch, S.n, step, tab), S.code(step, tab)


def _subset_distortion(A: codec.Analysis, st: Settings, step: float) -> float:
    """Squared error of the frames of A at this step, with its own centroids (what
    codec.reconstruct gives): :func:`_distortion` of their quantization."""
    qz = codec.quantize(A, step, st)
    return _distortion(qz, codec.counts(qz), step)


class _Errors:
    """The squared error of a quantization, summed piece by piece in the pass that counts it
    (no reconstruction, nothing kept per coefficient): at one step, with r = |Y|/step - |q|
    (qz.v - |q|) and the reconstruction |q| - off of each class and bucket's centroid offset,
    sum (r + off)^2 = sum r^2 + sum over class and bucket of off^2 n - 2 off sum(|q| - v),
    whose last sums are the centroid statistics the counts hold (~1/5 of the time of
    reconstructing).  Frames with per-block steps (pre-echo guard: v is in their own steps s)
    are taken out of that sum and added back weighted by s^2, from their own sums per class and
    bucket.  ``signal``: the coefficients' energy too (sum Y^2)."""

    def __init__(self, signal: bool = False) -> None:
        self.r2 = 0.0
        self.sig = 0.0 if signal else None
        self.w = None  # frames with per-block steps: [sum r^2, sum s^2 r^2] and per key n, sum r, sum s^2, sum s^2 r

    def add(self, qz: codec.Quantized) -> "_Errors":
        """Sum quantization qz in; its v is overwritten (with r)."""
        r = np.subtract(qz.v, np.abs(qz.q), out=qz.v)  # v is spent once counted: r in its place (fresh arrays cost page faults)
        self.r2 += float(np.einsum("fcn,fcn->", r, r))
        if self.sig is not None:
            self.sig += float(np.einsum("fcn,fcn->", qz.Y, qz.Y))
        R = np.flatnonzero(qz.e.any(axis=1))
        if R.size:
            F, ch, N = qz.q[R].shape
            a = np.abs(qz.q[R])
            rr = r[R]
            s2 = np.broadcast_to(codec.step_map(1.0, qz.e[R], N) ** 2, a.shape)
            m = a > 0
            key = (np.repeat(qz.cls[R].reshape(F, ch, -1), codec.BAND, axis=-1) * 3 + np.minimum(a, 3) - 1)[m]
            n3 = 3 * codec.C
            if self.w is None:
                self.w = [0.0, 0.0, np.zeros(n3), np.zeros(n3), np.zeros(n3), np.zeros(n3)]
            w = self.w
            w[0] += float(np.einsum("fcn,fcn->", rr, rr))
            w[1] += float(np.sum(s2 * rr * rr))
            for j, vals in enumerate((None, rr[m], s2[m], s2[m] * rr[m])):
                w[2 + j] += np.bincount(key, vals, minlength=n3)
        return self

    def total(self, k: dict, step: float, tab: codec.Tables | None = None) -> float:
        """The squared error, given the counts k of the same frames (tables tab of k)."""
        off = (codec.tables_of_counts(k) if tab is None else tab).delta.ravel() / 128.0
        d = self.r2 + float(np.sum(off * off * k["cn"] - 2 * off * k["cd"]))
        if self.w is None:
            return d * step * step
        r2, wr2, n, sr, s2, s2r = self.w
        own = r2 + float(np.sum(2 * off * sr + off * off * n))  # their part of d
        return (d - own) * step * step + (wr2 + float(np.sum(2 * off * s2r + off * off * s2))) * step * step


def _distortion(qz: codec.Quantized, k: dict, step: float, tab: codec.Tables | None = None) -> float:
    """Squared error of quantization qz (counts k, tables tab of k) at this step (:class:`_Errors`)."""
    return _Errors().add(qz).total(k, step, tab)


# Near the rate, the distortion of a step search's frames goes as step**DIST_EXP: 2 where every
# coefficient is coded (step^2/12 each), less where bands fall to zero.  Used only to move one
# measured distortion to the budget by the rate model's slope (:func:`_distortion_at`).  Against
# the full search (a secant to the budget per hop, ~4 passes each): the same hop on 149 of the 150
# 1-s chunks at 3.2 bits/sample of the corpus, three sonic-pi loops and the 384-channel recording (53
# of them with attacks, where both hops are measured; the other: distortions 1% apart), SQNR per file
# within 0.02 dB; attack-heavy chunks' encode ~0.5x.
DIST_EXP = 2.0


def _distortion_at(A: codec.Analysis, st: Settings, budget: float, cal: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """(distortion of the frames of A at the step where they take ``budget`` bits, the rate
    model's calibration there), from one quantization at the model's guess (calibrated by
    ``cal``): its coded bits give the step change to the budget by the model's slope, and the
    distortion moves by DIST_EXP per log2 step.  Where the model has nothing to solve (a silent
    subset), the secant search and the distortion at its step."""
    rm = _RateModel.of(A)
    model = rm.solve(budget)
    if model is None:
        g, _, cal = _secant(lambda ls: _sub_bits(A, st, ls), budget, A, st, cal)
        return _subset_distortion(A, st, 2.0**g), cal
    rms = rm.rms
    g = min(max(model[0] + cal[0], math.log2(rms) - 39), math.log2(rms) + 11)  # inside _secant's bracket
    step = 2.0**g
    qz = codec.quantize(A, step, st, bool(st.preecho) and bool(codec.preecho_shift(A, step).any()))
    k = codec.counts(qz)
    tab = codec.tables_of_counts(k)
    bits = codec.coded_bits(k, tab) + 64 * int(A.short.sum())
    dg = (budget - bits) / (model[1] * cal[1])
    return _distortion(qz, k, step, tab) * 2.0 ** (DIST_EXP * dg), (g + dg - model[0], cal[1])


@dataclasses.dataclass
class _Found:
    """What the hop choice's search found on a stream: its frames idx, their analysis A, and the
    rate model's calibration (c, slope ratio) at the rate."""

    idx: np.ndarray
    A: codec.Analysis
    cal: tuple[float, float]


def _pick_hop(src: _Source, st: Settings) -> tuple["_Stream", _Found]:
    """hop 1024 or 2048, whichever has the lower distortion at the rate on the same samples (a
    subset of 2048-sample stretches; both transforms see the same stretches); and what the
    search found on it (for :func:`_rate_encode`)."""
    ch = src.ch
    S2 = _Stream(src, dataclasses.replace(st, hop=2048))
    if not S2.short.any():
        # No attack anywhere: hop 2048, unsearched.  On 1-s chunks (30 of music, 4 of the 384-channel
        # recording) hop 1024 won only where hop 2048 had 4-6 short frames of 22, never without one;
        # this saves an analysis, a search and two distortion passes (~1/3 of a chunk's encode).
        # The analysis handed on is of the rate search's own subset (so it is used, not redone).
        _perceptual_weights(S2)
        idx = _subset_idx(S2)
        return S2, _Found(idx, S2.analysis(idx), (MODEL_C, 1.0))
    k = max(1, S2.F // _frames_in(SUBSET_BYTES, ch, 2048, 96))
    idx2 = np.arange(k // 2, S2.F, k)
    S1 = _Stream(src, dataclasses.replace(st, hop=1024))
    idx1 = np.sort(np.concatenate((2 * idx2, 2 * idx2 + 1)))
    idx1 = idx1[idx1 < S1.F]
    best, score, cal = None, None, (MODEL_C, 1.0)
    for S, idx in ((S1, idx1), (S2, idx2)):
        _perceptual_weights(S)
        A = S.analysis(idx)
        sst = S.st
        budget = st.rate * idx2.size * 2048 * ch - 8 * idx.size * _frame_fixed_bytes(sst)
        d, cal = _distortion_at(A, sst, budget, cal)  # the second hop from the first's calibration
        if score is None or d < score:
            best, score = (S, _Found(idx, A, cal)), d
        del A
    return best


def _perceptual_weights(S: "_Stream") -> None:
    """tune="perceptual": the stream's band weights (tqa.sv2.perceptual) from the long-term band
    energies of the step search's subset of frames, set in S.st (once)."""
    st = S.st
    if st.tune != "perceptual" or st.weights is not None:
        return
    A, _ = _subset(S)
    P = _perc.long_term_energy(A.EB, A.short)
    if A.EBM is not None:  # the stream's energy per band whatever the stereo form
        P = 0.5 * (P + _perc.long_term_energy(A.EBM, A.short))
    del A
    S.st = dataclasses.replace(st, weights=_perc.weights_from_energy(P, st.mask))
    if S.e_lo is not None:  # as codec.preecho_levels makes them with the weights
        S.e_lo /= _perc.weight_rms(S.st.weights) ** 2
    S._cache = {} if S._cache is not None else None


def _encode(src: _Source, st: Settings):
    found = None
    if st.hop == "auto" and st.rate is not None:
        S, found = _pick_hop(src, st)
    else:
        S = _Stream(src, dataclasses.replace(st, hop=1024) if st.hop == "auto" else st)
        _perceptual_weights(S)
    try:
        if S.st.rate is not None:
            out = _rate_encode(S, st.rate * max(S.n, 1) * S.ch, found)
        else:
            out = _quality_encode(S)
        if st.frame_floor is None:
            return out + ({},)
        return _floor.encode(S, out, _rate_encode if S.st.rate is not None else None)
    finally:
        S.forget()


def encode(grid, **settings) -> tuple[bytes, list[bytes]]:
    """Encode (n, channels) float64 grid samples (integers on the 2**23 grid; (n,) is mono).

    settings: see tqa.sv2.codec.Settings (rate= or quality=, sample_rate=, hop=, frame_overhead=, ...).
    Returns (params, frames): params (stream header: tables, step), one payload per frame.
    The whole array stays in memory; :class:`Encoder` streams.
    """
    st = Settings(**settings)
    x = np.asarray(grid, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    params, frames, _ = _encode(_ArraySource(x, st), st)
    return params, list(frames)


class Encoder:
    """Streaming encoder in bounded memory: :meth:`push` grid samples in pieces of any size, then
    :meth:`finish` codes them; the bytes are those of :func:`encode` on the whole array.

    The samples are spooled to an anonymous temporary file (2 bytes a sample of a 16-bit grid,
    else 4; in ``tmpdir``,
    default: :func:`tempfile.gettempdir`) and read back chunk by chunk on each pass of the step
    search; the payloads are spooled to another until the size is right.  Memory: a few chunks of
    analyses (PIECE_BYTES each), a chunk's squared errors (quality=, CHUNK_BYTES), the search's
    subset of frames (SUBSET_BYTES), plus the analyses of streams up to CACHE_BYTES of them.
    A context manager; :meth:`close` deletes the files (they have no name: they also vanish with
    the process).  Grid samples must be integers of magnitude below 2**31 (tqa's grid is).
    """

    def __init__(self, channels: int, tmpdir: str | None = None, **settings) -> None:
        self.st = Settings(**settings)
        self._src: _Source = _Spool(int(channels), self.st, tmpdir)
        self._frames = None
        self.closed = False
        self.floor_stats: dict = {}  # frame_floor: refined_frames, min_sqnr (dB), rounds, rate_exceeded (after finish)

    @property
    def n(self) -> int:
        """Samples per channel pushed so far."""
        return self._src.n

    def hold(self, grid: np.ndarray) -> None:
        """The whole stream at once: (n, channels) float64 grid samples that are in memory anyway
        (an array codec's chunk), read in place of a spool (the same bytes; no temporary file:
        384 channels, 1 s: its int32 conversion, writes and reads back were ~18% of the encode).
        Nothing is pushed before or after; the caller keeps ``grid`` unchanged until finish."""
        if self.closed or self._frames is not None or self._src.n:
            raise ValueError("sv2.Encoder: hold after push, finish or close")
        g = np.asarray(grid, np.float64)
        if g.ndim != 2 or g.shape[1] != self._src.ch:
            raise ValueError(f"sv2.Encoder: expected (n, {self._src.ch}) samples, got shape {g.shape}")
        self._src.close()
        self._src = _ArraySource(g, self.st)

    def push(self, grid) -> None:
        """Append (k, channels) grid samples ((k,) for mono)."""
        if self.closed or self._frames is not None or not isinstance(self._src, _Spool):
            raise ValueError("sv2.Encoder: push after hold, finish or close")
        g = np.asarray(grid, np.float64)
        if g.ndim == 1:
            g = g[:, None]
        if g.ndim != 2 or g.shape[1] != self._src.ch:
            raise ValueError(f"sv2.Encoder: expected (k, {self._src.ch}) samples, got shape {g.shape}")
        self._src.push(g)

    def push_int16(self, samples) -> None:
        """Append (k, channels) 16-bit samples as int16 ((k,) for mono): what :meth:`push` of
        the grid values ``256.0 * samples`` does (the same bytes), spooled as they come."""
        if self.closed or self._frames is not None or not isinstance(self._src, _Spool):
            raise ValueError("sv2.Encoder: push after hold, finish or close")
        x = np.asarray(samples)
        if x.dtype != np.int16:
            raise TypeError(f"sv2.Encoder.push_int16: expected int16 samples, got {x.dtype}")
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self._src.ch:
            raise ValueError(f"sv2.Encoder: expected (k, {self._src.ch}) samples, got shape {x.shape}")
        self._src.push_int16(x)

    def mirror(self, fd: int, offset: int) -> bool:
        """The 16-bit samples this encoder will be given (:meth:`push_int16`) are the bytes of the
        file open as ``fd`` from ``offset`` on (interleaved little-endian int16, a PCM WAV's data
        chunk): read them back from there instead of spooling a copy (see :meth:`_Spool.mirror`:
        the pushes are compared with the file, the first 64 Ki rows whole, then each push's ends;
        a mismatch falls back to the spool, the same bytes;
        :meth:`finish` raises InputChanged, a ValueError, if the file changed meanwhile).  The file is never
        written; a duplicate of ``fd`` is kept until :meth:`close`.  Before any sample; returns
        whether it is mirrored."""
        if self.closed or self._frames is not None or not isinstance(self._src, _Spool):
            raise ValueError("sv2.Encoder: mirror after hold, finish or close")
        return self._src.mirror(fd, offset)

    def finish(self, **late) -> tuple[bytes, "_FileFrames"]:
        """Code the stream: (params, frames), frames an iterable of payloads (read back from the
        spool in batches) with len().  ``late``: settings known only at the end (stream_overhead)."""
        if self.closed or self._frames is not None:
            raise ValueError("sv2.Encoder: finish twice or after close")
        st = dataclasses.replace(self.st, **late) if late else self.st
        self._src.seal()
        params, self._frames, self.floor_stats = _encode(self._src, st)
        self._src.check()  # a mirrored input read back by every pass: unchanged since it was pushed
        self._src.close()  # the samples are no longer needed; the payloads are
        return params, self._frames

    def close(self) -> None:
        """Delete the spool files (the frames returned by finish cannot be read after this)."""
        if not self.closed:
            self._src.close()
            if self._frames is not None:
                self._frames.close()
            self.closed = True

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def info(params: bytes) -> dict:
    p = parse_params(params)
    return {"channels": p.channels, "hop": p.hop, "sample_rate": p.sample_rate, "n_samples": p.n_samples,
            "n_frames": p.n_frames, "step": p.step, "rotate": p.rotate, "frame_floor": p.floor,
            **_perc.describe(p.perc)}  # fmt: skip


def decode_frames(params: bytes | codec.Params, payloads: list, first: int = 0) -> tuple[np.ndarray, int]:
    """Overlap-add frames first..first+len(payloads)-1 alone.

    Returns (samples (m, channels), start): samples start .. start+m of the signal (clipped to the
    stream) to which these frames contribute; only [first·hop + hop/2, (last+1)·hop - hop/2) is
    complete (plus the stream's ends: frames 0 and F-1 have hard edges).  A payload None is a lost
    frame: its coefficients are taken as zero.
    """
    p = params if isinstance(params, codec.Params) else parse_params(params)
    N = p.hop
    ok = [i for i, b in enumerate(payloads) if b is not None]
    F = len(payloads)
    Xc = None
    short = np.zeros(F, bool)
    r = np.full(F + 1, N // 2, np.int64)
    if ok:
        oka = np.array(ok)
        Xo, so, rl, rr, zm = codec.unpack_frames(p, [payloads[i] for i in ok], first + oka)
        # Neighbours share the overlap at their boundary (an encoder writes it into both frames'
        # headers); frames from elsewhere (swapped, duplicated under valid CRCs) may not agree.
        adj = np.flatnonzero(np.diff(oka) == 1)
        bad = adj[rr[adj] != rl[adj + 1]]
        if bad.size:
            raise FrameError(first + int(oka[bad[0] + 1]), "overlap disagrees with the previous frame's")
        if len(ok) == F and Xo.flags.c_contiguous:
            Xc = Xo
        else:
            Xc = np.zeros((p.channels, F, N))
            Xc[:, oka] = Xo
        short[oka] = so
        r[oka + 1] = rr
        r[oka] = rl
    if Xc is None:
        Xc = np.zeros((p.channels, F, N))
    if first == 0:
        r[0] = 0
    if first + F >= p.n_frames:
        r[F] = 0
    jit = codec._compiled_decode(p)
    hops = None if jit is None else transform.synthesize(Xc, short, r, jit)  # rounded
    rounded = hops is not None
    if not rounded:
        hops = transform.inverse(Xc, short, r)
    y, s0 = transform.to_samples(hops, first, N)
    if ok and zm.any():  # digital silence in the source stays exactly silent
        for j, i in enumerate(ok):
            if zm[j].any():
                a = (first + i) * N - s0
                y[a : a + N][zm[j].T] = 0.0
    lo, hi = max(0, s0), min(p.n_samples, s0 + y.shape[0])
    return y[lo - s0 : hi - s0] if rounded else np.rint(y[lo - s0 : hi - s0]), lo


def decode_chunk_frames(channels: int, hop: int, budget: int = 2 << 20) -> int:
    """Frames per :func:`decode_frames` call for the stream decoder (tqa.stream): 2·budget bytes
    of float64 coefficients (128 stereo frames at hop 2048 for 2 MiB), 2 to 256.  The compiled
    path holds ~3 arrays of that size (coefficients, hops, the caller's output) and costs ~0.1 ms
    a call; the NumPy path ~10, and its rANS loop runs once per symbol position of the longest
    lane, so its time per frame falls with the frames per call (6 a call: ~80 s for 5 minutes of
    stereo, 128: ~6 s)."""
    return int(min(max(2 * budget // (8 * channels * hop), 2), 256))


def decode(params: bytes, frames: list) -> np.ndarray:
    """The whole stream: (n_samples, channels) float64 grid values."""
    p = parse_params(params)
    if len(frames) != p.n_frames:
        raise ValueError(f"sv2 stream has {p.n_frames} frames, got {len(frames)}")
    out = np.empty((p.n_samples, p.channels))
    N = p.hop
    for a in range(0, p.n_frames, DECODE_CHUNK):  # bounded memory: a chunk and its two neighbours
        b = min(p.n_frames, a + DECODE_CHUNK)
        f0, f1 = max(0, a - 1), min(p.n_frames, b + 1)
        y, lo = decode_frames(p, frames[f0:f1], f0)
        s0, s1 = a * N, min(p.n_samples, b * N)
        out[s0:s1] = y[s0 - lo : s1 - lo]
    return out


def frame_range(params: bytes | codec.Params, start: int, stop: int) -> tuple[int, int]:
    """Frames first..last (inclusive) needed for samples start..stop."""
    p = params if isinstance(params, codec.Params) else parse_params(params)
    return max(0, start // p.hop - 1), min(p.n_frames - 1, (stop - 1) // p.hop + 1)


def read(params: bytes, get_frame, start: int, stop: int) -> np.ndarray:
    """Samples start..stop, fetching only the frames they need through get_frame(i) -> bytes | None."""
    p = parse_params(params)
    a, b = frame_range(p, start, stop)
    y, lo = decode_frames(p, [get_frame(i) for i in range(a, b + 1)], a)
    return y[start - lo : stop - lo]
