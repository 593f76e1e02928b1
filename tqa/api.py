"""Python API: encode, decode, info, and the streaming Encoder/Decoder they use."""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO, Iterator

import numpy as np

from .blockcodec import BlockCodec, BlockError, Settings
from .container import FormatError, Header, Reader, open_reader, pack_frames
from .registry import get_engine
from .samples import FORMATS, OUTPUT_DTYPES, as_samples, format_of_dtype, from_grid, to_grid
from .threads import limit as _limit_threads

__all__ = ["Reader", "encode", "decode", "info", "verify", "Encoder", "Decoder", "DamagedFramesWarning", "DEFAULT_FRAME_SAMPLES"]

DEFAULT_FRAME_SAMPLES = 4096  # per channel; a frame is the unit of random access and of CRC
CHUNK_SAMPLES = 1 << 16  # per channel per codec call: bounds the float64 working set
ON_ERROR = ("raise", "silence")


class DamagedFramesWarning(UserWarning):
    """Issued by ``decode(..., on_error="silence")`` when frames were replaced by silence."""


def _frame_blocks(block_size: int, frame_samples: int | None) -> int:
    if frame_samples is None:
        return max(1, DEFAULT_FRAME_SAMPLES // block_size)
    if (
        isinstance(frame_samples, bool)
        or not isinstance(frame_samples, (int, np.integer))
        or frame_samples < block_size
        or frame_samples % block_size
        or frame_samples // block_size > 4096
    ):
        raise ValueError(
            f"frame_samples must be a multiple of block_size={block_size} up to 4096 blocks, got {frame_samples!r}"
        )
    return int(frame_samples) // block_size


def code_frames(codec: BlockCodec, header: Header, x: np.ndarray, first: int) -> bytes:
    """Frames ``first, first+1, ...`` of validated samples ``x`` (n, channels).

    ``x`` covers whole frames, except that the stream's last frame may be short.
    Blocks are coded independently, so any split of a stream at frame boundaries
    gives the same bytes as coding it in one go (what ``tqa batch`` relies on).
    """
    n = header.block_size
    nb = -(-x.shape[0] // n)
    grid = np.zeros((header.channels, nb * n))
    to_grid(x, out=grid[:, : x.shape[0]].T)  # straight into the (channels, samples) buffer
    with _limit_threads():  # one BLAS thread (tqa.threads); TQA_THREADS opts in to more
        records = codec.encode(grid.reshape(header.channels * nb, n))
    return pack_frames(header, first, records.reshape(header.channels, nb, header.settings.record_bytes))


class Encoder:
    """Streaming .tqa encoder writing to a seekable binary file object.

    ``write`` takes (n,) or (n, channels) chunks of any length; ``close`` codes the
    rest and writes the final frame count into the header.  Memory is bounded by
    one chunk plus one frame, whatever the stream's length.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        sample_rate: int,
        channels: int,
        *,
        source_format: int | str = "float32",
        bits: int = 6,
        residual: str = "sign",
        block_size: int = 512,
        seed: int = 0,
        qjl_rows: int | None = None,
        engine: str | None = None,
        frame_samples: int | None = None,
    ) -> None:
        settings = Settings(block_size, bits, residual, seed, qjl_rows)
        frame_blocks = _frame_blocks(settings.block_size, frame_samples)
        for name, v in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {v!r}")
        if isinstance(source_format, str):
            codes = {v[0]: k for k, v in FORMATS.items()}
            if source_format not in codes:
                raise ValueError(f"source_format must be one of {', '.join(codes)}, got {source_format!r}")
            source_format = codes[source_format]
        try:
            self.header = Header(int(sample_rate), int(channels), 0, source_format, settings, frame_blocks)
        except FormatError as exc:
            raise ValueError(str(exc)) from None
        self._codec = BlockCodec(settings, get_engine(engine))
        self._f = fileobj
        self._start = fileobj.tell()
        fileobj.write(self.header.pack())
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._frames_written = 0
        self._n = 0
        self.closed = False

    def write(self, samples: np.ndarray) -> None:
        """Append samples (validated as in :func:`encode`)."""
        if self.closed:
            raise ValueError("write to a closed Encoder")
        x = as_samples(samples)
        if x.shape[1] != self.header.channels:
            raise ValueError(f"samples have {x.shape[1]} channels, the stream has {self.header.channels}")
        if self._n + x.shape[0] > 2**48:
            raise ValueError("stream longer than 2**48 samples per channel")
        self._n += x.shape[0]
        fs = self.header.frame_samples
        step = max(fs, CHUNK_SAMPLES // fs * fs)
        pos = 0
        if self._pending_n:  # complete the pending partial chunk first
            take = min(x.shape[0], step - self._pending_n)
            self._pending.append(x[:take])
            self._pending_n += take
            pos = take
            if self._pending_n == step:
                self._emit(np.concatenate(self._pending))
                self._pending, self._pending_n = [], 0
        while x.shape[0] - pos >= step:
            self._emit(x[pos : pos + step])
            pos += step
        if pos < x.shape[0]:
            self._pending.append(x[pos:])
            self._pending_n += x.shape[0] - pos

    def _emit(self, x: np.ndarray) -> None:
        """Code whole frames of samples (the last may be short only at close)."""
        self._f.write(code_frames(self._codec, self.header, x, self._frames_written))
        self._frames_written += -(-x.shape[0] // self.header.frame_samples)

    def close(self) -> Header:
        """Flush the last frames and patch the frame count into the header."""
        if self.closed:
            return self.header
        if self._pending_n:
            x = np.concatenate(self._pending)
            fs = self.header.frame_samples
            whole = x.shape[0] // fs * fs
            if whole:
                self._emit(x[:whole])
            if whole < x.shape[0]:
                self._emit(x[whole:])
        h = self.header
        self.header = Header(h.sample_rate, h.channels, self._n, h.source_format, h.settings, h.frame_blocks)
        end = self._f.tell()
        self._f.seek(self._start)
        self._f.write(self.header.pack())
        self._f.seek(end)
        self.closed = True
        return self.header

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.close()


def encode(
    samples: np.ndarray,
    sample_rate: int,
    *,
    bits: int = 6,
    residual: str = "sign",
    block_size: int = 512,
    seed: int = 0,
    qjl_rows: int | None = None,
    engine: str | None = None,
    frame_samples: int | None = None,
    profile: str = "time",
    rate: float | None = None,
    quality: float | None = None,
    hop: int = 1024,
) -> bytes:
    """Encode samples to a complete .tqa stream.

    ``samples``: int16, int32, float32 or float64, shape (n,) or (n, channels), any
    n >= 0.  Float samples may exceed +-1.0 up to +-16.0; NaN/Inf raise ValueError.
    ``residual``: ``"none"``, ``"sign"`` (default) or ``"qjl"`` (``qjl_rows`` bits
    per block, default ``block_size``).  ``engine``: an engine name or None for the
    current default (see :func:`tqa.engines`).  ``frame_samples``: samples per
    channel in a frame, the unit of random access and of the CRC (default 4096).

    ``profile="spectral"``: MDCT bands with water-filled bits instead (tqa.spectral);
    give ``rate`` (bits per sample, all side info included; default 3.2, every frame
    the same size) or ``quality`` (target SQNR in dB, variable frames), and ``hop``,
    the MDCT hop (256–2048; frames of twice that); ``seed`` applies, the
    time-domain settings do not.
    """
    if profile == "spectral":
        from . import spectral

        return spectral.encode(samples, sample_rate, rate=rate, quality=quality, seed=seed, engine=engine, hop=hop)
    if profile != "time":
        raise ValueError(f"profile must be 'time' or 'spectral', got {profile!r}")
    if rate is not None or quality is not None:
        raise ValueError("rate= and quality= apply to profile='spectral'")
    x = as_samples(samples)
    buf = io.BytesIO()
    enc = Encoder(
        buf, sample_rate, x.shape[1], source_format=format_of_dtype(x.dtype), bits=bits, residual=residual,
        block_size=block_size, seed=seed, qjl_rows=qjl_rows, engine=engine, frame_samples=frame_samples,
    )  # fmt: skip
    enc.write(x)
    enc.close()
    return buf.getvalue()


def sample_range(n_samples: int, start, frames, dtype: str) -> tuple[int, int]:
    """Validate a decode request: [start, stop) clipped to the stream."""
    if dtype not in OUTPUT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {dtype!r}")
    for name, v in (("start", start), ("frames", frames)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    start = min(int(start), n_samples)
    return start, n_samples if frames is None else min(n_samples, start + int(frames))


def read_chunks(decoder, start, frames, dtype: str) -> np.ndarray:
    """A decoder's chunks joined: shape (n,) if mono else (n, channels)."""
    parts = list(decoder.chunks(start, frames, dtype))
    c = decoder.header.channels
    out = np.concatenate(parts) if parts else from_grid(np.zeros((0, c)), dtype)
    return out[:, 0] if c == 1 else out


def Decoder(source: bytes | BinaryIO, *, engine: str | None = None, name: str = "stream", on_error: str = "raise"):
    """Random-access decoder of a .tqa stream of either profile (bytes or a seekable file).

    ``.header``, ``.read(start, frames, dtype)``, ``.chunks(...)`` and ``.lost``; see
    :class:`TimeDecoder` for ``on_error``.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    reader = open_reader(source, name, strict=on_error == "raise")
    if reader.header.profile == 1:
        from .spectral import SpectralDecoder

        return SpectralDecoder(reader, get_engine(engine), on_error)
    return TimeDecoder(reader, engine=engine, on_error=on_error)


class TimeDecoder:
    """Random-access decoder of time-domain (profile 0) streams.

    ``on_error="raise"`` (default) stops at the first damaged frame with a
    :class:`tqa.FormatError` naming it; ``on_error="silence"`` decodes everything
    else, fills damaged (or missing, if the stream is truncated) frames with silence
    and lists them in :attr:`lost`.
    """

    def __init__(self, reader: Reader, *, engine: str | None = None, on_error: str = "raise") -> None:
        self.on_error = on_error
        self.reader = reader
        self.header = self.reader.header
        self._codec = BlockCodec(self.header.settings, get_engine(engine))
        self.lost: list[dict] = []

    def _decode_batch(self, first: int, recs: list[np.ndarray]) -> np.ndarray:
        """Grid samples (channels, samples) of consecutive intact frames from ``first``."""
        h = self.header
        rec = np.concatenate(recs, axis=1) if len(recs) > 1 else recs[0]
        c, nb, r = rec.shape
        try:
            with _limit_threads():  # one BLAS thread (tqa.threads)
                blocks = self._codec.decode(rec.reshape(c * nb, r))
        except BlockError as exc:
            # rows are (channel, block): name the frame and the channel
            frame = first + (exc.row % nb) // h.frame_blocks
            raise FormatError(
                f"{self.reader.name}: frame {frame}, channel {exc.row // nb}: {exc}", frame=frame
            ) from None
        return blocks.reshape(c, nb * h.block_size)

    def _lose(self, i: int, exc: Exception) -> None:
        h = self.header
        lo, hi = i * h.frame_samples, min(h.n_samples, (i + 1) * h.frame_samples)
        self.lost.append({"frame": i, "start": lo, "end": hi, "start_s": lo / h.sample_rate,
                          "end_s": hi / h.sample_rate, "reason": str(exc)})  # fmt: skip

    def _frames_grid(self, first: int, last: int) -> np.ndarray:
        """Grid samples (samples, channels) of frames first..last-1."""
        recs: list = []
        for i in range(first, last):
            try:
                recs.append(self.reader.frame(i))
            except FormatError as exc:
                if self.on_error == "raise":
                    raise
                recs.append(exc)
        if not any(isinstance(r, Exception) for r in recs):
            try:
                return self._decode_batch(first, recs).T
            except FormatError:
                if self.on_error == "raise":
                    raise
        # Recovery path: frame by frame, silence for the damaged ones.
        h = self.header
        parts = []
        for i, r in zip(range(first, last), recs):
            if not isinstance(r, Exception):
                try:
                    parts.append(self._decode_batch(i, [r]))
                    continue
                except FormatError as exc:
                    r = exc
            self._lose(i, r)
            parts.append(np.zeros((h.channels, h.frame_blocks_of(i) * h.block_size)))
        return np.concatenate(parts, axis=1).T

    def chunks(
        self, start: int = 0, frames: int | None = None, dtype: str = "float32", chunk_frames: int | None = None
    ) -> Iterator[np.ndarray]:
        """Yield decoded (samples, channels) chunks covering [start, start+frames)."""
        h = self.header
        start, stop = sample_range(h.n_samples, start, frames, dtype)
        if stop <= start:
            return
        fs = h.frame_samples
        per = chunk_frames or max(1, CHUNK_SAMPLES // fs)
        first, last = start // fs, -(-stop // fs)
        for lo in range(first, last, per):
            hi = min(last, lo + per)
            g = self._frames_grid(lo, hi)
            a, b = max(start - lo * fs, 0), min(stop - lo * fs, g.shape[0])
            yield from_grid(g[a:b], dtype)

    def read(self, start: int = 0, frames: int | None = None, dtype: str = "float32") -> np.ndarray:
        """Decode [start, start+frames) sample frames: shape (n,) if mono else (n, channels)."""
        return read_chunks(self, start, frames, dtype)


def decode(
    data: bytes | BinaryIO,
    *,
    engine: str | None = None,
    start: int = 0,
    frames: int | None = None,
    dtype: str = "float32",
    on_error: str = "raise",
) -> tuple[np.ndarray, int]:
    """Decode a .tqa stream to ``(samples, sample_rate)`` like ``soundfile.read``.

    Samples have shape (n,) for mono and (n, channels) otherwise; ``start`` and
    ``frames`` (sample frames) select a range, and only the .tqa frames covering it
    are read.  ``dtype``: float32 (default), float64, int16 or int32.  Raises
    :class:`tqa.FormatError` for a damaged stream, naming the frame; with
    ``on_error="silence"`` damaged frames decode as silence instead, reported by a
    :class:`DamagedFramesWarning` (use :class:`Decoder` for the list).
    """
    dec = Decoder(data, engine=engine, on_error=on_error)
    out = dec.read(start, frames, dtype)
    if dec.lost:
        spans = ", ".join(f"{d['frame']} ({d['start_s']:.3f}-{d['end_s']:.3f} s)" for d in dec.lost)
        warnings.warn(f"{len(dec.lost)} damaged frame(s) replaced by silence: {spans}", DamagedFramesWarning, stacklevel=2)
    return out, dec.header.sample_rate


def verify(data: bytes | BinaryIO, name: str = "stream") -> list[tuple[int, str]]:
    """Check every frame's CRC-32 and index without decoding: [(frame, problem), ...]."""
    return open_reader(data, name, strict=False).verify()


def info(data: bytes | BinaryIO, name: str = "stream") -> dict:
    """Header fields and sizes of a .tqa stream (reads the header only)."""
    r = open_reader(data, name)
    h = r.header
    s = h.settings
    fmt_name, width, _ = FORMATS[h.source_format]
    total = h.n_samples * h.channels
    source_bytes = total * width
    out = {
        "version": h.version,
        "profile": "spectral" if h.profile == 1 else "time",
        "sample_rate": h.sample_rate,
        "channels": h.channels,
        "frames": h.n_samples,
        "duration": h.n_samples / h.sample_rate,
        "source_format": fmt_name,
        "seed": s.seed,
        "tqa_frames": h.n_frames,
        "bytes": r.size,
        "bits_per_sample": (r.size * 8 / total) if total else 0.0,
        "source_bytes": source_bytes,
        "ratio": (source_bytes / r.size) if total else 0.0,
    }
    if h.profile == 1:
        out.update(hop=s.hop, mode="vbr" if h.vbr else "cbr", rate=s.rate, quality=s.quality)
    else:
        out.update(block_size=s.block_size, bits=s.bits, residual=s.residual, qjl_rows=s.qjl_rows,
                   frame_samples=h.frame_samples, nominal_sqnr_db=s.nominal_sqnr_db)  # fmt: skip
    return out
