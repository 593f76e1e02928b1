"""Audio files <-> .tqa files, streamed in bounded memory, written atomically.

Input is anything libsndfile reads (through soundfile).  The source's sample format
is kept in the .tqa header; decoding writes the same subtype by default.  Sources
without a PCM sample format (Vorbis, Opus, MP3, µ-law, ADPCM, ...) are recorded as
16-bit, which is also the size their ratio is measured against.

Every output is written to a temporary file in the destination's folder and renamed
over the destination only when complete: a failed or interrupted run leaves no
partial file and never destroys an existing one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import soundfile as sf

from .stream import WORKING_SET, Decoder, Encoder
from .samples import FORMATS

__all__ = ["encode_file", "decode_file", "atomic_output", "AudioError", "source_format", "OUTPUT_FORMATS"]

# soundfile subtype -> (tqa source format code, dtype to read it exactly)
_SUBTYPES = {
    "PCM_16": (1, "int16"),
    "PCM_24": (2, "int32"),
    "PCM_32": (3, "int32"),
    "FLOAT": (4, "float32"),
    "DOUBLE": (5, "float64"),
    "PCM_S8": (6, "int16"),
    "PCM_U8": (7, "int16"),
}
OUTPUT_FORMATS = {
    ".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".au": "AU",
    ".caf": "CAF", ".w64": "W64", ".rf64": "RF64",
}  # fmt: skip
_WRITE_DTYPE = {"PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32", "FLOAT": "float32", "DOUBLE": "float64"}


def chunk_samples(channels: int) -> int:
    """Samples per channel per read: the stream layer's working set, at least 1024."""
    return max(1024, WORKING_SET // (8 * channels))


class AudioError(ValueError):
    """A problem with an input or output file, named in the message."""


def source_format(subtype: str) -> tuple[int, str]:
    """(tqa format code, read dtype) for a soundfile subtype."""
    return _SUBTYPES.get(subtype, (1, "float32"))


def check_input(path: str | os.PathLike) -> pathlib.Path:
    p = pathlib.Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise AudioError(f"{p}: not readable (permission denied)")
    return p


def _check_output(path: str | os.PathLike, inputs: tuple = ()) -> pathlib.Path:
    p = pathlib.Path(path)
    if p.is_dir():
        raise AudioError(f"{p}: is a directory; give an output file name")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise AudioError(f"{p}: folder {parent} does not exist")
    for src in inputs:
        if p.exists() and pathlib.Path(src).exists() and os.path.samefile(p, src):
            raise AudioError(f"{p}: refusing to write over the input file")
    return p


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, inputs: tuple = ()) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only if the block completes."""
    p = _check_output(path, inputs)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent if str(p.parent) else ".")
    except OSError as exc:
        raise AudioError(f"{p}: cannot write in {p.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write: name the output
            raise AudioError(f"{p}: write failed: {exc.strerror or exc}; nothing was written") from None
        raise


@dataclass
class Transcode:
    """What an encode or decode did, for reports."""

    frames: int
    channels: int
    sample_rate: int
    seconds: float
    in_bytes: int
    out_bytes: int
    lost: list = field(default_factory=list)  # damaged frames replaced by silence (decode --recover)


def _open_input(p: pathlib.Path) -> sf.SoundFile:
    try:
        return sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{p}: not a readable audio file ({exc})") from None


def encode_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    progress: Callable[[int], None] | None = None,
    **settings,
) -> Transcode:
    """Encode an audio file to .tqa in chunks (memory independent of its length)."""
    p = check_input(src)
    t0 = time.perf_counter()
    with _open_input(p) as f:
        code, dtype = source_format(f.subtype)
        with atomic_output(dst, (p,)) as out:
            enc = Encoder(out, f.samplerate, f.channels, source_format=code, **settings)
            frames = 0
            while True:
                try:
                    chunk = f.read(chunk_samples(f.channels), dtype=dtype, always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioError(f"{p}: read error at sample {frames}: {exc}") from None
                if not chunk.shape[0]:
                    break
                enc.write(chunk)
                frames += chunk.shape[0]
                if progress:
                    progress(chunk.shape[0])
            enc.close()
            size = out.tell()
        return Transcode(frames, f.channels, f.samplerate, time.perf_counter() - t0, p.stat().st_size, size)


def output_subtype(fmt: str, source_code: int, subtype: str | None) -> str:
    """The subtype to write: ``subtype`` if given, else the source's when ``fmt`` supports it."""
    if subtype is not None:
        subtype = str(subtype).upper()
        if not sf.check_format(fmt, subtype):
            raise AudioError(f"--subtype {subtype} is not supported by {fmt} files (try one of {', '.join(sf.available_subtypes(fmt))})")
        return subtype
    want = FORMATS[source_code][2]
    for cand in (want, "PCM_24" if source_code in (4, 5) else want):
        if sf.check_format(fmt, cand):
            return cand
    return sf.default_subtype(fmt)


def decode_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    start: int = 0,
    frames: int | None = None,
    subtype: str | None = None,
    engine: str | None = None,
    on_error: str = "raise",
    progress: Callable[[int], None] | None = None,
) -> Transcode:
    """Decode a .tqa file (or the [start, start+frames) range of it) to an audio file.

    ``on_error="silence"`` writes damaged frames as silence and lists them in ``lost``.
    """
    p = check_input(src)
    out_path = pathlib.Path(dst)
    fmt = OUTPUT_FORMATS.get(out_path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{out_path}: unknown output extension; use one of {', '.join(OUTPUT_FORMATS)}")
    t0 = time.perf_counter()
    with open(p, "rb") as fin:
        dec = Decoder(fin, engine=engine, name=str(p), on_error=on_error)
        h = dec.header
        st = output_subtype(fmt, h.source_format, subtype)
        dtype = _WRITE_DTYPE.get(st, "float32" if st in ("VORBIS", "OPUS") else "int16")
        n = 0
        with atomic_output(out_path, (p,)) as out:
            with sf.SoundFile(out, "w", h.sample_rate, h.channels, st, format=fmt) as w:
                for chunk in dec.chunks(start, frames, dtype):
                    w.write(chunk)
                    n += chunk.shape[0]
                    if progress:
                        progress(chunk.shape[0])
            size = out.tell()
    return Transcode(n, h.channels, h.sample_rate, time.perf_counter() - t0, p.stat().st_size, size, dec.lost)
