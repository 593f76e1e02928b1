"""Python API: ``encode``, ``decode``, ``info``, ``verify`` – thin wrappers over the stream classes.

Like python-soundfile's module functions over ``SoundFile``: every function takes bytes, a
path or a binary file object, and returns ``(data, samplerate)`` where soundfile does.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

from .samples import as_samples, format_of_dtype
from .stream import DamagedFramesWarning, Decoder, Encoder, UnfinishedStreamWarning, info, verify

__all__ = ["encode", "decode", "info", "verify", "Encoder", "Decoder", "DamagedFramesWarning",
           "UnfinishedStreamWarning"]  # fmt: skip

Source = bytes | bytearray | memoryview | str | BinaryIO


def _check_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Samples as (n, channels); ``layout="channels_first"`` takes (channels, n)."""
    if layout == "channels_first":
        return x.T if x.ndim == 2 else x
    if layout != "channels_last":
        raise ValueError(f"layout must be 'channels_last' or 'channels_first', got {layout!r}")
    if x.ndim == 2 and x.shape[0] < x.shape[1] and x.shape[0] <= 8 and x.shape[1] > 64:
        raise ValueError(
            f"samples of shape {x.shape} look channels-first ({x.shape[0]} channels of {x.shape[1]} samples?): "
            "TQA takes (n, channels); pass samples.T, or layout='channels_first'"
        )
    return x


def encode(
    samples,
    sample_rate: int,
    *,
    profile: str | None = None,
    source_format: int | str | None = None,
    engine: str | None = None,
    tags: dict | None = None,
    channel_mask: int | None = None,
    layout: str = "channels_last",
    **settings,
) -> bytes:
    """Encode samples to a complete .tqa stream.

    ``samples``: int16, int32, float32 or float64, shape (n,) or (n, channels), any n >= 0
    (an array that looks channels-first is refused with a hint; ``layout="channels_first"``
    takes (channels, n)).  Float samples may exceed +-1.0 up to +-16.0; NaN/Inf raise
    ValueError naming the sample.  ``profile``: ``"spectral2"``, ``"time"`` or ``"spectral"``;
    None (default): the profile the settings pick (:func:`tqa.profiles.resolve`: ``bits=4`` is
    the time profile), else spectral2 at 3.0 bits/sample.  ``settings`` are the profile's
    (:mod:`tqa.profiles`):

    * spectral2: ``rate`` (bits per sample, all included; 3.0) or ``quality`` (the stream's
      SQNR in dB), ``hop`` ("auto"), ``tune``, ``frame_floor``, ``stereo``, ``seed``, ...;
    * time: ``bits`` (6), ``residual`` ("sign"; "none", "qjl"), ``block_size`` (512),
      ``seed``, ``qjl_rows``, ``frame_samples`` (4096, the unit of random access and CRC);
    * spectral: ``rate`` (bits per sample, all side info included; 3.2, every frame the same
      size) or ``quality`` (target SQNR in dB, variable frames), ``hop`` (1024), ``seed``.

    ``source_format``: the format to record (e.g. ``"int24"`` for 24-bit audio read as
    int32); default: the samples' dtype.  ``tags``: {KEY: value} stored in the header;
    ``channel_mask``: a WAVE_FORMAT_EXTENSIBLE speaker mask.  ``engine``: an engine name
    (see :func:`tqa.engines`) or None for the one in force.
    """
    x = as_samples(samples if isinstance(samples, (list, tuple)) else _check_layout(np.asarray(samples), layout))
    buf = io.BytesIO()
    enc = Encoder(buf, sample_rate, x.shape[1], profile=profile,
                  source_format=format_of_dtype(x.dtype) if source_format is None else source_format,
                  engine=engine, tags=tags, channel_mask=channel_mask, **settings)  # fmt: skip
    enc.write(x)
    enc.close()
    return buf.getvalue()


def decode(
    source: Source,
    *,
    start: int = 0,
    frames: int | None = -1,
    stop: int | None = None,
    dtype="float32",
    always_2d: bool = False,
    out: np.ndarray | None = None,
    engine: str | None = None,
    on_error: str = "raise",
) -> tuple[np.ndarray, int]:
    """Decode a .tqa stream to ``(samples, sample_rate)`` like ``soundfile.read``.

    ``source``: bytes, a path or a binary file object (read from its current position).
    Samples have shape (n,) for mono and (n, channels) otherwise (``always_2d``: always);
    ``start`` and ``frames`` (-1: to the end) or ``stop`` select a range of sample frames,
    and only the .tqa frames covering it are read.  ``dtype``: float32 (default), float64,
    int16 or int32 (names or NumPy dtypes).  ``out``: an array to fill.  Raises
    :class:`tqa.FormatError` for a damaged stream, naming the frame; with
    ``on_error="silence"`` damaged frames decode as silence, a truncated stream decodes what
    it holds, and a :class:`DamagedFramesWarning` lists the losses (:class:`Decoder` has them
    as data).
    """
    with Decoder(source, engine=engine, on_error=on_error) as dec:
        data = dec.read(start, frames, dtype, always_2d=always_2d, out=out, stop=stop)
        dec.warn_lost()
        return data, dec.header.sample_rate
