"""Audio files <-> .tqa files, streamed in bounded memory, written atomically.

Input is anything libsndfile reads (through soundfile).  The source's sample format
is kept in the .tqa header; decoding writes the same subtype by default.  Sources
without a PCM sample format (Vorbis, Opus, MP3, µ-law, ADPCM, ...) are recorded as
16-bit, which is also the size their ratio is measured against.  Tags (title,
artist, album, date, ...) and a WAVEX/CAF channel layout are carried through the
stream when the library stores them.

Output safety (what ``tqa`` promises, see the README's "Command line" section):

* an existing output is replaced only with ``force=True``; an output that *is* one
  of the inputs (same path, symlink or hard link) is refused even then;
* every output is written to ``.NAME.XXXXXXXX.part`` in the destination's folder,
  locked while it is written, and renamed over the destination only when complete:
  a failed or interrupted run leaves no partial file and never destroys an existing
  one; a ``.part`` left by a killed process (its lock is gone) is removed by the next
  write into that folder;
* a new output gets the mode the umask allows (0666 & ~umask), a replaced one keeps
  its mode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import re
import stat
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator

import soundfile as sf

from . import api
from .profiles.base import InputChanged
from .samples import FORMATS
from .stream import WORKING_SET
from .vocab import OUTPUT_FORMATS

__all__ = [
    "encode_file", "decode_file", "atomic_output", "check_output", "check_writable", "AudioError", "source_format",
    "OUTPUT_FORMATS", "read_tags", "read_channel_mask", "clean_stale_parts", "same_file",
]  # fmt: skip

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
_WRITE_DTYPE = {"PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32", "FLOAT": "float32", "DOUBLE": "float64"}

# libsndfile's writer limits, checked before any work (found by probing libsndfile 1.2:
# above them it refuses with a message naming a file descriptor, or, for Vorbis above
# 200 kHz or 255 channels, crashes with a segmentation fault).
MAX_CHANNELS = 1024
_FORMAT_CHANNELS = {"FLAC": 8, "OGG": 255}
_FLAC_MAX_RATE = 655350
_VORBIS_MAX_RATE = 200000
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MULTICHANNEL = ("WAV", "W64", "CAF", "RF64")

# soundfile's string fields <-> Vorbis-comment style tag names
TAG_FIELDS = {
    "title": "TITLE", "artist": "ARTIST", "album": "ALBUM", "date": "DATE", "comment": "COMMENT",
    "genre": "GENRE", "tracknumber": "TRACKNUMBER", "copyright": "COPYRIGHT", "license": "LICENSE",
}  # fmt: skip

# libsndfile channel-map codes <-> WAVEFORMATEXTENSIBLE dwChannelMask bits
_SFC_GET_CHANNEL_MAP_INFO = 0x1100
_SFC_SET_CHANNEL_MAP_INFO = 0x1101
_MAP_TO_MASK = {
    2: 0x1, 5: 0x1, 3: 0x2, 6: 0x2, 4: 0x4, 7: 0x4, 11: 0x8, 9: 0x10, 10: 0x20, 12: 0x40, 13: 0x80,
    8: 0x100, 14: 0x200, 15: 0x400, 16: 0x800, 17: 0x1000, 19: 0x2000, 18: 0x4000, 20: 0x8000,
    22: 0x10000, 21: 0x20000,
}  # fmt: skip
_MASK_TO_MAP = {0x1: 2, 0x2: 3, 0x4: 4, 0x8: 11, 0x10: 9, 0x20: 10, 0x40: 12, 0x80: 13, 0x100: 8, 0x200: 14,
                0x400: 15, 0x800: 16, 0x1000: 17, 0x2000: 19, 0x4000: 18, 0x8000: 20, 0x10000: 22, 0x20000: 21}  # fmt: skip


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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when a and b are one file (same path, symlink or hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path: str | os.PathLike, inputs: Iterable = (), force: bool = False) -> pathlib.Path:
    """Refuse an output that cannot or must not be written; nothing is touched."""
    p = pathlib.Path(path)
    for src in inputs:
        if src is not None and (p.exists() or p.is_symlink()) and same_file(p, src):
            raise AudioError(f"{p}: is the input file {src}; refusing to write over it (even with --force)")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory; give an output file name")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise AudioError(f"{p}: folder {parent} does not exist")
    if (p.exists() or p.is_symlink()) and not force:
        raise AudioError(f"{p}: already exists; use -f/--force to replace it")
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):
        raise AudioError(f"{p}: exists and is not a regular file; refusing to replace it")
    if not os.access(parent, os.W_OK):
        raise AudioError(f"{p}: cannot write in {parent} (permission denied)")
    return p


def _umask() -> int:
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def clean_stale_parts(folder: str | os.PathLike, name: str | None = None) -> list[pathlib.Path]:
    """Remove ``.NAME.XXXXXXXX.part`` files that no live writer holds (left by a killed run)."""
    folder = pathlib.Path(folder)
    removed = []
    pattern = f".{glob_escape(name)}.*.part" if name else ".*.part"
    with contextlib.suppress(OSError):
        for p in folder.glob(pattern):
            if not re.fullmatch(r"\..+\.[A-Za-z0-9_]{8}\.part", p.name) or not p.is_file():
                continue
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live writer holds it
                os.close(fd)
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
            os.close(fd)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, inputs: Iterable = (), force: bool = True) -> Iterator[str]:
    """The path of a locked temporary file that replaces ``path`` only if the block completes.

    For writers that open the file themselves (libsndfile): errors then come back as
    its return codes, not as exceptions inside a callback.  ``force=False`` refuses an
    existing ``path``; an input is never overwritten.
    """
    inputs = tuple(inputs)
    p = check_output(path, inputs, force)
    folder = p.parent if str(p.parent) else pathlib.Path(".")
    clean_stale_parts(folder, p.name)
    old_mode = stat.S_IMODE(p.stat().st_mode) if p.exists() else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise AudioError(f"{p}: cannot write in {folder}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the rename: a cleaner leaves it alone
        yield tmp
        os.fsync(fd)
        os.chmod(tmp, old_mode if old_mode is not None else 0o666 & ~_umask())
        for src in inputs:  # last check: nothing replaced the destination by an input meanwhile
            if src is not None and p.exists() and same_file(p, src):
                raise AudioError(f"{p}: is the input file {src}; refusing to write over it")
        os.replace(tmp, p)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write: name the output
            raise AudioError(f"{p}: write failed: {exc.strerror or exc}; nothing was written") from None
        raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, inputs: Iterable = (), force: bool = True) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only if the block completes (see :func:`atomic_path`)."""
    with atomic_path(path, inputs, force) as tmp:
        with open(tmp, "r+b") as f:
            yield f
            f.flush()


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
    tags: dict = field(default_factory=dict)
    channel_mask: int | None = None
    dropped_tags: list = field(default_factory=list)  # too long for the header, left out
    problem: str | None = None  # what the reader found wrong with the stream (decode)


def open_input(p: str | os.PathLike, name: str | None = None) -> sf.SoundFile:
    try:
        return sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{name or p}: not a readable audio file ({_sf_reason(exc)})") from None


def _sf_reason(exc: Exception) -> str:
    msg = str(exc)
    return msg.split(": ", 1)[1] if msg.startswith("Error opening") and ": " in msg else msg


def read_tags(f: sf.SoundFile) -> dict[str, str]:
    """Tags of an open SoundFile, Vorbis-comment style names (TITLE, ARTIST, ...)."""
    out = {}
    for attr, key in TAG_FIELDS.items():
        with contextlib.suppress(Exception):
            v = getattr(f, attr)
            if v:
                out[key] = str(v)
    return out


def read_channel_mask(f: sf.SoundFile) -> int | None:
    """The WAVEX/CAF channel mask of an open SoundFile, or None if it declares none."""
    try:
        arr = sf._ffi.new("int[]", f.channels)
        if not sf._snd.sf_command(f._file, _SFC_GET_CHANNEL_MAP_INFO, arr, f.channels * sf._ffi.sizeof("int")):
            return None
        codes = list(arr)
    except Exception:  # private soundfile API: a layout is a nicety, never a failure
        return None
    mask = 0
    for c in codes:
        bit = _MAP_TO_MASK.get(c)
        if bit is None or mask & bit:
            return None
        mask |= bit
    return mask or None


def _set_channel_mask(w: sf.SoundFile, mask: int) -> bool:
    bits = [b for b in sorted(_MASK_TO_MAP) if mask & b]
    if len(bits) != w.channels:
        return False
    try:
        arr = sf._ffi.new("int[]", [_MASK_TO_MAP[b] for b in bits])
        return bool(sf._snd.sf_command(w._file, _SFC_SET_CHANNEL_MAP_INFO, arr, w.channels * sf._ffi.sizeof("int")))
    except Exception:
        return False


def _write_tags(w: sf.SoundFile, tags: dict) -> None:
    rev = {v: k for k, v in TAG_FIELDS.items()}
    for key, value in (tags or {}).items():
        attr = rev.get(str(key).upper())
        if attr:
            with contextlib.suppress(Exception):
                setattr(w, attr, str(value))


# -- the encoder, through the public API -------------------------------------------------
def open_encoder(out: BinaryIO, sample_rate: int, channels: int, code: int, settings: dict,
                 tags: dict | None = None, channel_mask: int | None = None):  # fmt: skip
    """``tqa.Encoder`` for ``settings`` (``profile``, that profile's fields, ``engine``)."""
    return api.Encoder(out, sample_rate, channels, source_format=code, tags=tags or None, channel_mask=channel_mask,
                       **settings)  # fmt: skip


_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE = 1, 0xFFFE
_KSDATAFORMAT_PCM_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # the PCM subformat GUID after its u16 tag


def _pcm16_fmt(fmt: bytes, channels: int) -> bool:
    """Whether a WAVE fmt chunk's body declares interleaved 16-bit PCM of ``channels`` channels."""
    if len(fmt) < 16:
        return False
    tag, nch, _, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        tag = struct.unpack_from("<H", fmt, 24)[0] if len(fmt) >= 40 and fmt[26:40] == _KSDATAFORMAT_PCM_TAIL else 0
    return tag == _WAVE_FORMAT_PCM and nch == channels and bits == 16 and align == 2 * channels


def pcm16_data_offset(raw: BinaryIO, channels: int) -> int | None:
    """The byte offset of a RIFF/WAVE file's sample data where they are interleaved 16-bit
    little-endian PCM of ``channels`` channels (the chunks walked to ``data``, after a PCM
    ``fmt``), else None (RIFX, RF64, W64, another format).  Only a guess for readers that
    compare what they read there (spectral2's spool, :meth:`tqa.stream.Encoder.mirror_input`)."""
    raw.seek(0)
    head = raw.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    pos, pcm = 12, False
    while True:
        raw.seek(pos)
        hdr = raw.read(8)
        if len(hdr) < 8:
            return None
        cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if cid == b"data":
            return pos + 8 if pcm else None
        if cid == b"fmt ":
            pcm = _pcm16_fmt(raw.read(min(size, 40)), channels)
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes


def _mirror_wav(enc, p: pathlib.Path, f: sf.SoundFile) -> None:
    """Let the encoder read a 16-bit PCM WAV's samples back from the file itself (spectral2: no
    spooled copy, 53 MB for 5 minutes of stereo): what soundfile reads of it is those bytes as
    they are; the encoder compares its first 64 Ki sample frames with them (and each later
    chunk's ends), so a wrong offset only costs the copy."""
    if f.format not in ("WAV", "WAVEX") or f.subtype != "PCM_16":
        return
    try:
        with open(p, "rb") as raw:
            if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
                return
            offset = pcm16_data_offset(raw, f.channels)
            if offset is not None:
                enc.mirror_input(raw.fileno(), offset)  # the encoder keeps its own descriptor
    except OSError:  # unreadable a second time: the samples are spooled as they come
        return


_AT_SAMPLE = re.compile(r"at sample (\d+)")


def _with_time(msg: str, rate: int) -> str:
    """'at sample i' -> 'at sample i (t s)'."""
    return _AT_SAMPLE.sub(lambda m: f"at sample {m.group(1)} ({int(m.group(1)) / rate:.3f} s)", msg)


def check_channels_rate(channels: int, rate: int) -> None:
    """Limits of the .tqa format itself, before any work."""
    from .format import MAX_CHANNELS as TQA_CHANNELS, MAX_RATE

    if not 1 <= channels <= TQA_CHANNELS:
        raise AudioError(f"{channels} channels: a .tqa stream holds 1 to {TQA_CHANNELS}")
    if not 1 <= rate <= MAX_RATE:
        raise AudioError(f"{rate} Hz: a .tqa stream holds rates from 1 to {MAX_RATE} Hz")


def encode_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    progress: Callable[[int], None] | None = None,
    force: bool = True,
    name: str | None = None,
    **settings,
) -> Transcode:
    """Encode an audio file to .tqa in chunks (memory independent of its length).

    ``settings``: ``profile`` and that profile's fields, and ``engine``.  Tags and the
    channel layout of the source go into the stream.  ``name``: what to call ``src``
    in messages (e.g. "stdin" for a spooled pipe).
    """
    p = check_input(src)
    label = name or str(p)
    t0 = time.perf_counter()
    with open_input(p, label) as f:
        code, dtype = source_format(f.subtype)
        tags, mask = read_tags(f), read_channel_mask(f)
        with atomic_output(dst, (p,), force) as out:
            dropped = []
            while True:
                try:
                    enc = open_encoder(out, f.samplerate, f.channels, code, settings, tags, mask)
                    break
                except (ValueError, TypeError) as exc:
                    if "tags take" not in str(exc) or not tags:
                        raise AudioError(f"{label}: {exc}") from None
                    # the header holds ~4 kB of tags: leave out the longest until the rest fit
                    key = max(tags, key=lambda k: len(tags[k]))
                    dropped.append(key)
                    tags = {k: v for k, v in tags.items() if k != key}
            _mirror_wav(enc, p, f)
            frames = 0
            while True:
                try:
                    chunk = f.read(chunk_samples(f.channels), dtype=dtype, always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioError(f"{label}: read error at sample {frames}: {exc}") from None
                if not chunk.shape[0]:
                    break
                try:
                    enc.write(chunk)  # a bad sample is named by its index in the stream
                except ValueError as exc:
                    raise AudioError(f"{label}: {_with_time(str(exc), f.samplerate)}") from None
                frames += chunk.shape[0]
                if progress:
                    progress(chunk.shape[0])
            try:
                enc.close()
            except InputChanged as exc:  # the input changed while it was read back (a mirrored WAV)
                raise AudioError(f"{label}: {exc}") from None
            size = out.tell()
        return Transcode(frames, f.channels, f.samplerate, time.perf_counter() - t0, p.stat().st_size, size,
                         tags=tags, channel_mask=mask, dropped_tags=dropped)  # fmt: skip


def output_subtype(fmt: str, source_code: int, subtype: str | None) -> str:
    """The subtype to write: ``subtype`` if given, else the source's when ``fmt`` supports it."""
    if subtype is not None:
        subtype = str(subtype).upper()
        if not sf.check_format(fmt, subtype):
            allowed = sf.available_subtypes(fmt)
            near = _nearest_subtype(fmt, subtype)
            hint = f"; nearest: {near}" if near else ""
            raise AudioError(f"--subtype {subtype} is not supported by {fmt} files{hint} "
                             f"(allowed: {', '.join(allowed)})")  # fmt: skip
        return subtype
    want = FORMATS[source_code][2]
    for cand in (want, "PCM_24" if source_code in (4, 5) else want):
        if sf.check_format(fmt, cand):
            return cand
    return sf.default_subtype(fmt)


def _nearest_subtype(fmt: str, subtype: str) -> str | None:
    order = ["PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
    ok = [s for s in order if sf.check_format(fmt, s)]
    if subtype in order and ok:
        i = order.index(subtype)
        return min(ok, key=lambda s: (abs(order.index(s) - i), -order.index(s)))
    return ok[-1] if ok else None


def check_writable(fmt: str, subtype: str, rate: int, channels: int, name: str = "output") -> None:
    """Refuse, before any work, what libsndfile cannot write (naming the nearest valid choice)."""
    if channels > MAX_CHANNELS:
        raise AudioError(f"{name}: {channels} channels; libsndfile writes at most {MAX_CHANNELS} (any format)")
    limit = _FORMAT_CHANNELS.get(fmt)
    if limit is not None and channels > limit:
        raise AudioError(f"{name}: {fmt} holds at most {limit} channels, this stream has {channels}; "
                         f"use .wav, .w64, .caf or .rf64")  # fmt: skip
    if fmt == "FLAC" and rate > _FLAC_MAX_RATE:
        raise AudioError(f"{name}: FLAC holds rates up to {_FLAC_MAX_RATE} Hz, this stream is {rate} Hz; "
                         f"use .wav, .w64, .caf or .rf64")  # fmt: skip
    if subtype == "VORBIS" and rate > _VORBIS_MAX_RATE:
        raise AudioError(f"{name}: Vorbis holds rates up to {_VORBIS_MAX_RATE} Hz, this stream is {rate} Hz; "
                         f"use .flac or .wav")  # fmt: skip
    if subtype == "OPUS" and rate not in _OPUS_RATES:
        near = min(_OPUS_RATES, key=lambda r: (abs(r - rate), -r))
        raise AudioError(f"{name}: Opus works at {', '.join(map(str, _OPUS_RATES))} Hz only "
                         f"(nearest: {near}), this stream is {rate} Hz; use --subtype VORBIS or .flac")  # fmt: skip
    # anything else libsndfile refuses: ask it, on an in-memory file, before any work
    try:
        import io

        with sf.SoundFile(io.BytesIO(), "w", rate, channels, subtype, format=fmt):
            pass
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(f"{name}: libsndfile cannot write {fmt} {subtype} at {rate} Hz with {channels} channels "
                         f"({_sf_reason(exc)})") from None  # fmt: skip


def output_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The libsndfile major format for an output path (or an explicit --format name)."""
    if fmt is not None:
        ext = "." + str(fmt).lower().lstrip(".")
    else:
        ext = pathlib.Path(path).suffix.lower()
    out = OUTPUT_FORMATS.get(ext)
    if out is None:
        raise AudioError(f"{path}: unknown output extension; use one of {', '.join(OUTPUT_FORMATS)}")
    return out


def open_decoder(f, name: str, engine=None, on_error: str = "raise"):
    with warnings.catch_warnings():  # an unfinished stream: reported by the caller through .reader.problem
        warnings.simplefilter("ignore", api.UnfinishedStreamWarning)
        return api.Decoder(f, engine=engine, name=name, on_error=on_error)


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
    force: bool = True,
    fmt: str | None = None,
    name: str | None = None,
) -> Transcode:
    """Decode a .tqa file (or the [start, start+frames) range of it) to an audio file.

    ``on_error="silence"`` writes damaged frames as silence and lists them in ``lost``.
    The format comes from ``dst``'s extension (or ``fmt``); every writer limit is
    checked before the output is created.  Tags and the channel layout stored in the
    stream are written back where the format holds them.
    """
    p = check_input(src)
    label = name or str(p)
    out_path = pathlib.Path(dst)
    major = output_format(out_path, fmt)
    t0 = time.perf_counter()
    with open(p, "rb") as fin:
        dec = open_decoder(fin, label, engine, on_error)
        h = dec.header
        st = output_subtype(major, h.source_format, subtype)
        if major == "OGG" and subtype is None and out_path.suffix.lower() == ".opus":
            st = "OPUS"
        tags, mask = dict(h.tags), h.channel_mask
        if major == "WAV" and mask:
            major = "WAVEX"  # the channel layout needs WAVE_FORMAT_EXTENSIBLE
        check_writable(major, st, h.sample_rate, h.channels, str(out_path))
        check_output(out_path, (p,), force)
        dtype = _WRITE_DTYPE.get(st, "float32" if st in ("VORBIS", "OPUS") else "int16")
        n = 0
        with atomic_path(out_path, (p,), force) as tmp:
            try:
                with sf.SoundFile(tmp, "w", h.sample_rate, h.channels, st, format=major) as w:
                    if mask:
                        _set_channel_mask(w, mask)
                    _write_tags(w, tags)
                    for chunk in dec.chunks(start, -1 if frames is None else frames, dtype):
                        w.write(chunk)
                        n += chunk.shape[0]
                        if progress:
                            progress(chunk.shape[0])
            except AssertionError:  # soundfile asserts that every frame was written: the disk is full
                raise OSError(errno.ENOSPC, f"short write at sample {start + n} (disk full?)") from None
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise OSError(errno.EIO, f"libsndfile: {exc}") from None
            size = os.path.getsize(tmp)
    return Transcode(n, h.channels, h.sample_rate, time.perf_counter() - t0, p.stat().st_size, size, dec.lost,
                     tags=tags, channel_mask=mask, problem=dec.reader.problem)  # fmt: skip


def measure(src: str | os.PathLike, decoded: str | os.PathLike, chunk: int | None = None):
    """Streamed SQNR of ``decoded`` against ``src`` (an SNRMeter), both audio files."""
    from .metrics import SNRMeter

    with sf.SoundFile(str(src)) as a, sf.SoundFile(str(decoded)) as b:
        meter = SNRMeter(a.channels)
        chunk = chunk or chunk_samples(a.channels)
        while True:
            x = a.read(chunk, dtype="float64", always_2d=True)
            y = b.read(chunk, dtype="float64", always_2d=True)
            if not x.shape[0] or not y.shape[0]:
                break
            k = min(len(x), len(y))
            meter.update(x[:k], y[:k])
    return meter


def measure_tqa(src: str | os.PathLike, tqa_path: str | os.PathLike, engine=None):
    """Streamed SQNR of a .tqa file against its source (an SNRMeter)."""
    from .metrics import SNRMeter

    with sf.SoundFile(str(src)) as f, open(tqa_path, "rb") as t:
        dec = open_decoder(t, str(tqa_path), engine)
        meter = SNRMeter(f.channels)
        for chunk in dec.chunks(dtype="float64"):
            meter.update(f.read(len(chunk), dtype="float64", always_2d=True), chunk)
    return meter


def round_trip(src, dst, tqa_path, settings: dict, *, subtype=None, force=True, progress=None) -> dict:
    """Encode ``src`` to ``tqa_path``, decode it to ``dst`` and measure: what ``tqa run``, ``demo`` report.

    ``progress``: a factory ``(total, desc) -> callable`` for progress bars (or None).
    """
    total = sf.info(str(src)).frames
    bar = progress(total, "encode") if progress else None
    try:
        enc = encode_file(src, tqa_path, progress=bar, force=force, **settings)
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    bar = progress(total, "decode") if progress else None
    try:
        dec = decode_file(tqa_path, dst, subtype=subtype, engine=settings.get("engine"), progress=bar, force=force)
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    with open(tqa_path, "rb") as f:
        inf = api.info(f)
    si, so = sf.info(str(src)), sf.info(str(dst))
    meter = measure(src, dst)
    return {
        "input": str(src), "input_format": f"{si.format} {si.subtype}", "input_bytes": enc.in_bytes,
        "channels": si.channels, "sample_rate": si.samplerate, "frames": si.frames, "duration": si.duration,
        "tqa_bytes": inf["bytes"], "source_pcm_bytes": inf["source_bytes"],
        "source_format": inf["source_format"], "ratio": inf["ratio"], "bits_per_sample": inf["bits_per_sample"],
        "kbps": inf["bytes"] * 8 / si.duration / 1000 if si.duration else None,
        "size_vs_input": inf["bytes"] / enc.in_bytes if enc.in_bytes else None,
        "profile": inf.get("profile"),
        "settings": {k: v for k, v in settings.items() if v is not None},
        "sqnr_db": meter.sqnr_db, "sqnr_db_per_channel": meter.per_channel,
        "encode_seconds": enc.seconds, "decode_seconds": dec.seconds,
        "encode_x_realtime": si.duration / enc.seconds if enc.seconds else None,
        "decode_x_realtime": si.duration / dec.seconds if dec.seconds else None,
        "output": str(dst), "output_format": f"{so.format} {so.subtype}", "info": inf,
    }  # fmt: skip
