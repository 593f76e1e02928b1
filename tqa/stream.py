"""Streaming Encoder and Decoder: one driver for every profile.

The driver validates samples, moves them to and from the integer grid, frames the
profile's payloads (index, CRC), writes the VBR index, patches the header at close, reads
ranges through :class:`tqa.format.Reader` and reports damage; it never knows which profile
or engine runs.  Working memory is bounded in bytes (:data:`WORKING_SET`), whatever the
channel count.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import BinaryIO, Iterator

import numpy as np

from . import profiles, threads
from .format import FormatError, Reader, StreamHeader, check_tags, frames_of, index_bytes
from .registry import get_engine
from .samples import FORMATS, GRID, as_samples, format_code, output_dtype

__all__ = ["Encoder", "Decoder", "DamagedFramesWarning", "UnfinishedStreamWarning", "WORKING_SET", "ON_ERROR",
           "verify", "info", "header_bytes", "encode_segment"]  # fmt: skip

# Bytes of float64 working set per codec call.  2 MiB a chunk of samples keeps a stereo
# 44.1 kHz stream at 2**17 samples a call (the codec's per-call overhead is < 2% there,
# tools/bench_memory.py) and a 1024-channel one at 256 samples.
WORKING_SET = 1 << 21
FINISH_BATCH = 256  # payloads written at a time from a coder's finish()
ON_ERROR = ("raise", "silence")


def _grid_of(engine, x: np.ndarray) -> np.ndarray:
    """Samples (n, channels) on the grid as a C-contiguous float64 (channels, n) array (one pass:
    the engine writes the transposed buffer; every profile reads the same values from it)."""
    g = np.empty((x.shape[1], x.shape[0]))
    engine.to_grid(x, out=g.T)
    return g


class DamagedFramesWarning(UserWarning):
    """Issued by ``decode(..., on_error="silence")`` when frames were replaced by silence."""


class UnfinishedStreamWarning(UserWarning):
    """The stream was never closed by its writer: what is there is decoded."""


class Encoder:
    """Streaming .tqa encoder of any profile, writing to a seekable binary file object.

    ``write`` takes (n,) or (n, channels) chunks of any length; ``close`` codes the rest
    and writes the final length into the header (until then the header says "unfinished").
    ``settings`` are the profile's (:mod:`tqa.profiles`); ``profile`` None: the one they pick
    (:func:`tqa.profiles.resolve`: ``bits=`` is the time profile's), else ``"spectral2"`` at
    3.0 bits/sample.  A context manager.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        sample_rate: int,
        channels: int,
        *,
        profile: str | None = None,
        source_format: int | str = "float32",
        engine: str | None = None,
        tags: dict | None = None,
        channel_mask: int | None = None,
        threads: int | None = None,
        **settings,
    ) -> None:
        self.threads = threads  # compute threads a codec call may use: see tqa.threads (default 1)
        for name, v in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {v!r}")
        prof = profiles.get(profiles.resolve(profile, settings, profiles.DEFAULT))
        s = prof.settings(**settings)
        if channel_mask is not None and (isinstance(channel_mask, bool) or not isinstance(channel_mask, (int, np.integer))):
            raise TypeError(f"channel_mask must be an integer, got {channel_mask!r}")
        try:
            self.header = StreamHeader(prof, s, int(sample_rate), int(channels), format_code(source_format), 0,
                                       check_tags(tags), None if channel_mask is None else int(channel_mask),
                                       unfinished=True)  # fmt: skip
            head = self.header.pack()
        except FormatError as exc:
            raise ValueError(str(exc)) from None
        self._engine = get_engine(engine)
        self._coder = prof.encoder(s, int(channels), self._engine, WORKING_SET, int(sample_rate))
        self._f = fileobj
        self._start = fileobj.tell()
        self._head_size: int | None = None  # the header is written with the first frames (or at close)
        self._lengths: list[int] = []
        self._n = 0
        self.closed = False

    def _write_header(self) -> None:
        """Write the (unfinished) header: once the coder knows its final settings and profile data."""
        h = self.header
        settings = self._coder.settings or h.settings
        self.header = dataclasses.replace(h, settings=settings, profile_data=self._coder.profile_data(), header_size=None)
        try:
            head = self.header.pack()
        except FormatError as exc:
            raise ValueError(str(exc)) from None
        self._f.write(head)
        self._head_size = len(head)

    @property
    def profile(self) -> profiles.Profile:
        return self.header.profile

    def _put(self, payloads: list) -> None:  # bytes, or uint8 arrays of several (FrameEncoder.push)
        if self._head_size is None and payloads:
            self._write_header()
        pieces, lengths = frames_of(len(self._lengths), payloads)
        self._lengths += lengths
        if len(pieces) > 1:  # one write per batch, not per frame (13,000 frames in 5 minutes of spectral2)
            pieces = [b"".join(pieces)]
        for b in pieces:
            self._f.write(b)

    def mirror_input(self, fd: int, offset: int) -> bool:
        """Declare that the int16 samples this encoder will be written are the bytes of the file
        open (for reading) as ``fd`` from byte ``offset`` on, interleaved little-endian as in a
        PCM WAV's data chunk: a coder that keeps its input (spectral2) then reads it back from
        that file instead of copying it.  The caller vouches for that (spectral2 compares the
        first 64 Ki sample frames written with the file whole, later writes at their ends, and
        copies after all where they differ); a change of the file before :meth:`close` is an
        error.  Before the first write; returns whether the coder took it (the bytes are the
        same either way)."""
        if self.closed or self._n:
            raise ValueError("mirror_input before the first write only")
        mirror = getattr(self._coder, "mirror", None)
        return bool(mirror(fd, offset)) if mirror is not None else False

    def write(self, samples) -> None:
        """Append samples (validated as in :func:`tqa.encode`)."""
        if self.closed:
            raise ValueError("write to a closed Encoder")
        self._write(as_samples(samples, first=self._n))

    def _write(self, x: np.ndarray, grid: bool = False) -> None:
        """Append (n, channels) samples that :func:`as_samples` would pass as they are (native,
        float ones finite and within the headroom): the array codec's own scaled chunks, whose
        check costs ~8% of a 384-channel chunk's encode.  ``grid``: x holds the grid's values
        already (float64 integers on the grid: what the engine's to_grid makes of the samples)."""
        if x.shape[1] != self.header.channels:
            raise ValueError(f"samples have {x.shape[1]} channels, the stream has {self.header.channels}")
        if self._n + x.shape[0] > 2**48:
            raise ValueError("stream longer than 2**48 samples per channel")
        step = max(1, WORKING_SET // (8 * x.shape[1]))
        # a coder that takes 16-bit samples as they are (spectral2's spool): no grid made (the same bytes)
        push16 = getattr(self._coder, "push_int16", None) if x.dtype == np.int16 else None
        with threads.limit(self.threads):
            for lo in range(0, x.shape[0], step):
                part = x[lo : lo + step]
                if push16 is not None:
                    self._put(push16(part))
                else:
                    self._put(self._coder.push(np.ascontiguousarray(part.T) if grid else _grid_of(self._engine, part)))
        self._n += x.shape[0]

    def _write_whole(self, x: np.ndarray, grid: bool = False) -> None:
        """:meth:`_write` of the whole stream's samples at once (an array codec's chunk, in memory
        anyway): a coder that can read them from memory gets their grid whole (spectral2: no spool).
        ``grid``: as in :meth:`_write` (held as it is)."""
        hold = getattr(self._coder, "hold", None)
        if hold is None or self._n or x.shape[1] != self.header.channels or x.shape[0] > 2**48:
            self._write(x, grid)
            return
        with threads.limit(self.threads):
            self._put(hold(x if grid else self._engine.to_grid(x, out=np.empty(x.shape))))
        self._n = x.shape[0]

    def close(self) -> StreamHeader:
        """Flush the last frames, write the VBR index, patch the length into the header."""
        if self.closed:
            return self.header
        with threads.limit(self.threads):
            batch: list[bytes] = []
            for p in self._coder.finish(self._n):  # a list, or payloads produced one by one (spectral2)
                batch.append(p)
                if len(batch) >= FINISH_BATCH:
                    self._put(batch)
                    batch = []
            self._put(batch)
        if self._head_size is None:
            self._write_header()
        self.header = self.header.with_length(self._n)
        if self.header.frame_size(0) is None:  # variable-size frames: the index
            offsets = np.cumsum([self.header.header_size] + self._lengths).tolist()
            self._f.write(index_bytes(offsets))
        end = self._f.tell()
        self._f.seek(self._start)
        head = self.header.pack()
        assert len(head) == self._head_size  # the final header replaces the first in place
        self._f.write(head)
        self._f.seek(end)
        self.closed = True
        return self.header

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.close()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            warnings.warn("tqa.Encoder was never closed: the stream is marked unfinished", ResourceWarning, stacklevel=2)


def _count(name: str, v, allow_negative_one: bool = False) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or (v < 0 and not (allow_negative_one and v == -1)):
        raise ValueError(f"{name} must be a non-negative integer{' or -1' if allow_negative_one else ''}, got {v!r}")
    return int(v)


class Decoder:
    """Random-access decoder of a .tqa stream of any profile.

    ``source``: bytes, a path, or a binary file object (read from its current position).
    ``on_error="raise"`` (default) stops at the first damaged frame with a
    :class:`tqa.FormatError` naming it; ``"silence"`` decodes everything else, fills damaged
    frames with silence, keeps what a truncated or unfinished stream holds, and lists the
    losses in :attr:`lost`.  A context manager (closes a file it opened).
    """

    def __init__(self, source, *, engine: str | None = None, name: str | None = None, on_error: str = "raise",
                 threads: int | None = None) -> None:  # fmt: skip
        self.threads = threads  # compute threads a codec call may use: see tqa.threads (default 1)
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
        self.on_error = on_error
        self.reader = Reader(source, profiles, name, strict=on_error == "raise")
        self.header = self.reader.header
        h = self.header
        self.name = self.reader.name
        if h.unfinished:
            warnings.warn(f"{self.name}: {self.reader.problem}", UnfinishedStreamWarning, stacklevel=2)
        self._engine = get_engine(engine)
        self._dec = h.profile.decoder(h, self._engine, WORKING_SET)
        self.lost: list[dict] = []
        if self.reader.problem and self.reader.n_available < self.reader.n_frames:
            self._lose_range(self.reader.n_available, self.reader.n_frames, self.reader.problem)

    @property
    def n_samples(self) -> int:
        """Samples per channel this decoder returns: the declared length, or what a
        truncated stream still holds (``on_error="silence"``)."""
        h = self.header
        if self.reader.n_available >= self.reader.n_frames:
            return h.n_samples
        return min(h.n_samples, h.profile.samples_of_frames(h.settings, self.reader.n_available))

    @property
    def sample_rate(self) -> int:
        return self.header.sample_rate

    @property
    def channels(self) -> int:
        return self.header.channels

    def _lose_range(self, first: int, last: int, reason: str) -> None:
        h = self.header
        lo = h.profile.frame_samples(h.settings, first, h.n_samples)[0]
        hi = h.profile.frame_samples(h.settings, last - 1, h.n_samples)[1]
        self.lost.append({"frame": first, "last_frame": last - 1, "start": lo, "end": hi,
                          "start_s": lo / h.sample_rate, "end_s": hi / h.sample_rate, "reason": reason})  # fmt: skip

    def chunks(self, start: int = 0, frames: int | None = -1, dtype="float32",
               stop: int | None = None) -> Iterator[np.ndarray]:  # fmt: skip
        """Yield decoded (samples, channels) chunks covering [start, stop) (or start + frames)."""
        dt = output_dtype(dtype)
        start, stop = self._range(start, frames, stop)
        for g in self._grids(start, stop):
            yield self._engine.from_grid(g, dt)

    def _grids(self, start: int, stop: int, budget: int = WORKING_SET) -> Iterator[np.ndarray]:
        """Grid samples (samples, channels) (transposed views) covering [start, stop), a chunk at a
        time (of ``budget`` bytes of working arrays, as the profile counts them)."""
        h = self.header
        prof, s = h.profile, h.settings
        unit = prof.samples_of_frames(s, 2) - prof.samples_of_frames(s, 1)  # samples a frame adds
        step = prof.decode_chunk_frames(s, h.channels, budget) * unit
        nf = prof.n_frames(s, h.n_samples)
        seen = {d["frame"] for d in self.lost}
        a = start
        while a < stop:
            b = min(stop, a + step)
            f0, f1 = prof.frames_for(s, a, b)
            g = self._grid_checked(f0, min(f1, nf), seen)
            off = prof.output_start(s, f0)
            if f1 >= nf:
                # frames through the stream's last decoded: the grid holds every sample to its end, so
                # the rest comes from it (a 1-s chunk of 15 frames at hop 2048 took a second call of
                # its last 2 frames for the 1328 samples past 14 frames' step: 2 of 17 frames again)
                b = max(b, min(stop, off + g.shape[1]))
            yield g[:, a - off : b - off].T
            a = b

    def _grid_checked(self, lo: int, hi: int, seen: set, output: bool = True) -> np.ndarray | None:
        """Grid samples of frames lo..hi-1 (damage recorded in :attr:`lost`); ``output=False``
        only checks them (verify): nothing of the output's size is built for damaged frames."""
        payloads = self.reader.payloads(lo, min(hi, self.reader.n_available)) if lo < self.reader.n_available else []
        payloads += [FormatError("missing", frame=i) for i in range(max(lo, self.reader.n_available), hi)]
        bad = [(lo + k, p) for k, p in enumerate(payloads) if isinstance(p, Exception)]
        if bad and self.on_error == "raise":
            raise bad[0][1]
        try:
            with threads.limit(self.threads):
                g = self._dec.decode(lo, payloads)
        except FormatError as exc:
            if self.on_error == "raise":
                raise FormatError(f"{self.name}: {exc}", frame=exc.frame) from None
            for k, p in enumerate(payloads):  # recovery: frame by frame
                if isinstance(p, bytes):
                    try:
                        self._dec.decode(lo + k, [p])
                    except FormatError as e:
                        payloads[k] = FormatError(f"{self.name}: {e}", frame=lo + k)
                        bad.append((lo + k, payloads[k]))
            # Frames that decode alone may still disagree with a neighbour (spectral2 overlaps of
            # frames swapped or duplicated under valid CRCs): drop the frame the decoder names.
            # verify (no output) looks for that only when every frame decoded alone: a chunk of
            # damaged frames is not synthesized just to be thrown away (4096 channels: 128 MiB).
            tries = len(payloads) + 1 if output or not any(isinstance(p, Exception) for p in payloads) else 0
            g = None
            for _ in range(tries):  # at worst every frame is dropped, then it decodes
                try:
                    g = self._dec.decode(lo, payloads)
                    break
                except FormatError as e:
                    k = None if e.frame is None else e.frame - lo
                    if k is None or not 0 <= k < len(payloads) or not isinstance(payloads[k], bytes):
                        raise FormatError(f"{self.name}: {e}", frame=e.frame) from None
                    payloads[k] = FormatError(f"{self.name}: {e}", frame=e.frame)
                    bad.append((e.frame, payloads[k]))
            if not output:
                g = None
        for i, exc in sorted(bad):
            if i not in seen and i < self.reader.n_available:
                seen.add(i)
                self._lose_range(i, i + 1, str(exc))
        return g

    def _range(self, start, frames, stop) -> tuple[int, int]:
        n = self.n_samples
        start = _count("start", start)
        frames = _count("frames", frames, allow_negative_one=True)
        stop = _count("stop", stop)
        if frames not in (None, -1) and stop is not None:
            raise TypeError("give frames= or stop=, not both")
        start = min(start or 0, n)
        if stop is None:
            stop = n if frames in (None, -1) else min(n, start + frames)
        return start, max(start, min(stop, n))

    def read(self, start: int = 0, frames: int | None = -1, dtype="float32", always_2d: bool = False,
             out: np.ndarray | None = None, stop: int | None = None) -> np.ndarray:  # fmt: skip
        """Decode [start, stop) (or ``frames`` sample frames from ``start``; -1: to the end).

        Shape (n,) for mono unless ``always_2d``, else (n, channels), like soundfile.read;
        ``out``: a preallocated array to fill (its first rows if it is longer).
        """
        dt = output_dtype(dtype)
        a, b = self._range(start, frames, stop)
        c = self.header.channels
        if self.header.n_samples == 0 and self.on_error == "raise" and self.reader.n_frames:
            self._grid_checked(0, self.reader.n_frames, set())  # an empty stream's frames are still checked
        if out is not None:
            if not isinstance(out, np.ndarray) or out.dtype != dt:
                raise TypeError(f"out must be a NumPy array of dtype {dt}")
            want = (b - a, c) if (always_2d or c > 1 or out.ndim == 2) else (b - a,)
            if out.ndim != len(want) or out.shape[0] < b - a or out.shape[1:] != want[1:]:
                raise ValueError(f"out has shape {out.shape}; {want} (or more rows) is needed")
            res = out
        else:
            res = np.empty((b - a, c), dt)
        view = res if res.ndim == 2 else res[:, None]
        pos = 0
        with threads.limit(self.threads):  # once for the call (the chunks' own limits nest for free)
            for g in self._grids(a, b):
                m = g.shape[0]
                self._engine.from_grid(g, dt, out=view[pos : pos + m])
                pos += m
        if out is not None:
            return out[: b - a]
        return res[:, 0] if (c == 1 and not always_2d) else res

    def _read_scaled(self, start: int, stop: int, f, out: np.ndarray, budget: int | None = None,
                     kernel=None, offsets: np.ndarray | None = None) -> None:  # fmt: skip
        """Samples start..stop as :meth:`read` (float64) gives them, times f (a float, or one per
        channel), into out (stop - start, channels): in one pass over the grid, bit for bit those
        values where f is a power of two and f / 2**23 a normal float (the array codec's chunk
        exponents; a 384-channel chunk's decode: two full-size passes fewer).  An int16 ``out``
        gets them plus ``offsets`` (one per channel), rounded and clipped (``kernel``:
        :func:`tqa.sv2.codec.scaled_int16_kernel`'s)."""
        f = np.asarray(f, np.float64) / GRID
        pos = 0
        # working arrays up to half the output's size (in memory anyway), not WORKING_SET: each call
        # decodes a frame of overlap again, and 192 channels at hop 2048 got 2 frames a call (3
        # decoded): a 384-channel 1-s chunk's decode 1113 -> 640 ms, tracemalloc peak 139 -> 195 MiB for float output (int16: 129)
        budget = max(WORKING_SET, 4 * out.size) if budget is None else budget  # half its float64 size
        fk = np.ascontiguousarray(np.broadcast_to(f, out.shape[1:]), np.float64) if kernel is not None else None
        ok = None if kernel is None else np.zeros(out.shape[1]) if offsets is None else np.ascontiguousarray(offsets, np.float64)
        with threads.limit(self.threads):
            for g in self._grids(start, stop, budget):
                m = g.shape[0]
                o = out[pos : pos + m]
                if kernel is not None:
                    kernel(g.T, fk, ok, o)
                elif f.ndim and f.size <= 8:  # column by column: a broadcast over a short last axis loops per row
                    for j in range(f.size):
                        np.multiply(g[:, j], f[j], out=o[:, j])
                    o += 0.0  # -0.0 -> +0.0, as from_grid
                elif f.ndim and g.strides[0] < g.strides[1]:
                    _scaled_transposed(g.T, f, o)
                else:
                    np.multiply(g, f, out=o)
                    o += 0.0
                pos += m

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "Decoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warn_lost(self, stacklevel: int = 3) -> None:
        if self.lost:
            spans = ", ".join(
                (f"{d['frame']}" if d["last_frame"] == d["frame"] else f"{d['frame']}-{d['last_frame']}")
                + f" ({d['start_s']:.3f}-{d['end_s']:.3f} s)" for d in self.lost[:10]
            ) + (" ..." if len(self.lost) > 10 else "")
            warnings.warn(f"{len(self.lost)} damaged range(s) replaced by silence or dropped: {spans}",
                          DamagedFramesWarning, stacklevel=stacklevel)  # fmt: skip


TRANSPOSE_COLUMNS = 64  # samples per channel scaled and transposed at a time by _scaled_transposed


def _scaled_transposed(g: np.ndarray, f: np.ndarray, out: np.ndarray) -> None:
    """out[...] = (g * f[:, None]).T + 0.0 of (channels, m) grid rows g (a decoder's layout) into
    (m, channels) out: scaled in g's own order into a small buffer, then transposed from it.
    NumPy's one-call broadcast into the transposed out strides across g's rows (192 channels
    of 32768 samples: 64 -> 25 ms)."""
    t = TRANSPOSE_COLUMNS
    buf = np.empty((g.shape[0], t))
    fc = f[:, None]
    for lo in range(0, g.shape[1], t):
        b = buf[:, : min(t, g.shape[1] - lo)]
        np.multiply(g[:, lo : lo + t], fc, out=b)
        b += 0.0  # -0.0 -> +0.0, as from_grid
        out[lo : lo + t] = b.T


def verify(source, name: str | None = None) -> list[tuple[int, str]]:
    """Check every frame: CRC, index, and that it decodes.  [(frame, problem)], empty if intact.

    A run of missing frames (a truncated stream) is one entry naming the range; trailing
    bytes after the last frame are an entry too.  Time and memory are bounded by the
    stream's size, not by what its header declares.
    """
    dec = Decoder(source, name=name, on_error="silence")
    try:
        h = dec.header
        r = dec.reader
        problems: list[tuple[int, str]] = []
        prof, s = h.profile, h.settings
        per = prof.decode_chunk_frames(s, h.channels, WORKING_SET)
        seen: set = set()
        for lo in range(0, r.n_available, per):
            hi = min(r.n_available, lo + per)
            before = len(dec.lost)
            # chunks overlap by a frame: a frame is checked with both neighbours (spectral2 overlaps)
            dec._grid_checked(max(0, lo - 1), hi, seen, output=False)
            problems += [(d["frame"], d["reason"]) for d in dec.lost[before:]]
        if r.n_available < r.n_frames:
            end = r.size
            problems.append((r.n_available, f"{dec.name}: frames {r.n_available}-{r.n_frames - 1} missing: "
                                            f"{r.problem}; the stream ends at byte {end}"))  # fmt: skip
        elif r.problem:
            problems.append((r.n_available, f"{dec.name}: {r.problem}"))
        extra = r.trailing_bytes()
        if extra:
            problems.append((r.n_frames, f"{dec.name}: {extra} bytes of trailing data after the last frame"))
        return problems
    finally:
        dec.close()


def info(source, name: str | None = None) -> dict:
    """Header fields and sizes of a .tqa stream (reads the header, and a VBR index)."""
    with Decoder(source, name=name, on_error="silence") as dec:
        h = dec.header
        r = dec.reader
        fmt_name, width, _ = FORMATS[h.source_format]
        total = h.n_samples * h.channels
        source_bytes = total * width
        out = {
            "version": h.version,
            "profile": h.profile.name,
            "sample_rate": h.sample_rate,
            "channels": h.channels,
            "frames": h.n_samples,
            "duration": h.n_samples / h.sample_rate,
            "source_format": fmt_name,
            "tqa_frames": r.n_frames,
            "bytes": r.size,
            "bits_per_sample": (r.size * 8 / total) if total else 0.0,
            "kbps": (r.size * 8 / (h.n_samples / h.sample_rate) / 1000) if h.n_samples else 0.0,
            "source_bytes": source_bytes,
            "ratio": (source_bytes / r.size) if total else 0.0,
            "tags": dict(h.tags),
            "channel_mask": h.channel_mask,
            "complete": not r.problem,
            "problem": r.problem,
        }
        out.update(h.profile.describe(h.settings))
        return out


def header_bytes(sample_rate: int, channels: int, n_samples: int, *, profile: str | None = None,
                 source_format: int | str = "float32", tags: dict | None = None, channel_mask: int | None = None,
                 **settings) -> bytes:  # fmt: skip
    """The complete header of a stream of known length (for writers that code it in segments);
    ``profile`` None: the one :func:`tqa.profiles.resolve` picks for ``settings``."""
    prof = profiles.get(profiles.resolve(profile, settings, profiles.DEFAULT))
    return StreamHeader(prof, prof.settings(**settings), int(sample_rate), int(channels), format_code(source_format),
                        int(n_samples), check_tags(tags), channel_mask).pack()  # fmt: skip


def encode_segment(header: bytes, samples, first_frame: int, engine: str | None = None) -> bytes:
    """Frames ``first_frame, ...`` of the stream ``header`` describes, coding ``samples``.

    ``samples`` must start at the first sample of ``first_frame`` and cover whole frames (the
    stream's last frame may be short).  Only for profiles whose frames code independently
    (:attr:`tqa.profiles.Profile.segmentable`): then any split at frame boundaries gives the
    bytes of coding the stream in one go (``tqa batch`` relies on it).
    """
    h = StreamHeader.parse(header, "segment header", profiles)
    if not h.profile.segmentable:
        raise ValueError(f"profile {h.profile.name!r} streams cannot be coded in independent segments")
    x = as_samples(samples)
    coder_engine = get_engine(engine)
    coder = h.profile.encoder(h.settings, h.channels, coder_engine, WORKING_SET, h.sample_rate)
    step = max(1, WORKING_SET // (8 * h.channels))
    payloads: list[bytes] = []
    for lo in range(0, x.shape[0], step):
        payloads += coder.push(_grid_of(coder_engine, x[lo : lo + step]))
    payloads += coder.finish(x.shape[0])
    pieces, _ = frames_of(first_frame, payloads)
    return b"".join(p if isinstance(p, bytes) else p.tobytes() for p in pieces)
