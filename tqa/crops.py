"""Many ``(start, frames)`` crops from one or many .tqa streams in one call.

>>> batch = read_crops(["a.tqa", "b.tqa"], [(0, 48000, 48000), (1, 0, 48000)])  # doctest: +SKIP
>>> batch.shape                                                                # (k, frames, channels)

Crops are grouped by stream (one :class:`tqa.Decoder` per stream), sorted, and
overlapping or nearby crops of a stream are decoded as one span, so every .tqa frame
is decoded at most once per call; the crops are then copied out of the spans.  A
time-domain stream is random-access by frame (4096 samples), a spectral one by MDCT
frame, so a crop costs about its own length to decode wherever it lies.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from . import threads

__all__ = ["read_crops", "open_stream"]

MERGE_GAP = 8192  # crops of a stream closer than this (in samples) are decoded as one span


def open_stream(source, engine: str | None = None):
    """A :class:`tqa.Decoder` for a path, bytes, a binary file object, or a Decoder (returned as is).

    Returns ``(decoder, file_or_None)``: the file this call opened (the caller closes it).
    """
    from . import api

    if hasattr(source, "read") and hasattr(source, "header") and not hasattr(source, "seek"):
        return source, None  # already a Decoder
    if isinstance(source, (str, os.PathLike)):
        f = open(source, "rb")
        try:
            return api.Decoder(f, engine=engine, name=os.fspath(source)), f
        except BaseException:
            f.close()
            raise
    if isinstance(source, (bytes, bytearray, memoryview)):
        return api.Decoder(bytes(source), engine=engine), None
    if isinstance(source, io.IOBase) or hasattr(source, "seek"):
        return api.Decoder(source, engine=engine), None
    raise TypeError(f"a .tqa source is a path, bytes, a binary file or a tqa.Decoder, got {type(source).__name__}")


def _crop_table(crops, frames, many: bool) -> np.ndarray:
    """(k, 3) int64 table of (stream, start, frames)."""
    a = np.asarray(crops if isinstance(crops, np.ndarray) else list(crops))
    if a.size == 0:
        return np.zeros((0, 3), np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"crops must be integers, got {a.dtype}")
    a = a.astype(np.int64)
    if a.ndim == 1:
        a = a[:, None]
    want = (2 if many else 1) + (frames is None)
    if a.shape[1] != want:
        form = ("(stream, " if many else "(") + ("start, frames)" if frames is None else "start)")
        raise ValueError(f"crops must be a sequence of {form}, got shape {a.shape}")
    if not many:
        a = np.concatenate([np.zeros((len(a), 1), np.int64), a], axis=1)
    if frames is not None:
        a = np.concatenate([a, np.full((len(a), 1), int(frames), np.int64)], axis=1)
    if np.any(a[:, 1] < 0) or np.any(a[:, 2] < 0):
        raise ValueError("crop starts and frames must be non-negative")
    return a


def read_crops(
    sources,
    crops,
    *,
    frames: int | None = None,
    dtype: str = "float32",
    engine: str | None = None,
    out: np.ndarray | None = None,
    pad: bool = False,
) -> np.ndarray:
    """Decode crops to one ``(k, frames, channels)`` array.

    ``sources``: one .tqa source (path, bytes, binary file, :class:`tqa.Decoder`) or a
    list of them.  ``crops``: ``(start, frames)`` pairs for one source,
    ``(stream_index, start, frames)`` for a list; with ``frames=`` given, just
    ``start`` resp. ``(stream_index, start)``.  All crops have the same length.  A
    crop reaching past its stream's end raises ValueError, or with ``pad=True`` is
    filled with zeros.  ``dtype``: float32 (default), float64, int16 or int32.
    ``out``: a C-contiguous array of the result's shape and dtype to fill.
    """
    many = isinstance(sources, Sequence) and not isinstance(sources, (str, bytes, bytearray, memoryview))
    srcs = list(sources) if many else [sources]
    table = _crop_table(crops, frames, many)
    k = len(table)
    length = int(table[0, 2]) if k else int(frames or 0)
    if k and np.any(table[:, 2] != length):
        raise ValueError("all crops must have the same number of frames (call once per length)")
    if k and (table[:, 0].min() < 0 or table[:, 0].max() >= len(srcs)):
        raise ValueError(f"crop stream index out of range 0..{len(srcs) - 1}")
    with threads.limit():  # once for the call: every read below nests in it for free
        return _read_all(srcs, table, k, length, dtype, engine, out, pad)


def _read_all(srcs, table, k, length, dtype, engine, out, pad) -> np.ndarray:
    opened = []
    try:
        decoders = {}
        for s in np.unique(table[:, 0]) if k else []:
            dec, f = open_stream(srcs[int(s)], engine)
            decoders[int(s)] = dec
            if f is not None:
                opened.append(f)
        if not decoders:  # no crops: the shape still has the streams' channels
            dec, f = open_stream(srcs[0], engine)
            ch = dec.header.channels
            if f is not None:
                f.close()
        else:
            ch = next(iter(decoders.values())).header.channels
        for s, dec in decoders.items():
            if dec.header.channels != ch:
                raise ValueError(f"stream {s} has {dec.header.channels} channels, stream 0 of this call {ch}")
        shape = (k, length, ch)
        if out is None:
            out = np.empty(shape, np.dtype(dtype))
        elif out.shape != shape or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}")
        for s, dec in decoders.items():
            _read_stream(dec, s, table, length, out, dtype, pad)
        return out
    finally:
        for f in opened:
            f.close()


def _read_stream(dec, s: int, table: np.ndarray, length: int, out: np.ndarray, dtype: str, pad: bool) -> None:
    n = dec.header.n_samples
    rows = np.flatnonzero(table[:, 0] == s)
    rows = rows[np.argsort(table[rows, 1], kind="stable")]
    starts = table[rows, 1]
    if not pad and len(rows) and starts.max() + length > n:
        i = rows[int(np.argmax(starts))]
        raise ValueError(f"crop {int(i)} [{int(table[i, 1])}, {int(table[i, 1]) + length}) runs past the stream's end ({n})")
    i = 0
    while i < len(rows):  # spans of crops closer than MERGE_GAP
        j = i + 1
        end = starts[i] + length
        while j < len(rows) and starts[j] <= end + MERGE_GAP:
            end = max(end, starts[j] + length)
            j += 1
        lo, hi = int(starts[i]), int(min(end, n))
        if j == i + 1 and hi - lo == length:  # a crop alone and whole: decoded straight into its place
            dec.read(lo, length, dtype, always_2d=True, out=out[rows[i]])
            i = j
            continue
        span = dec.read(lo, hi - lo, dtype) if hi > lo else np.zeros((0, dec.header.channels), dtype)
        span = span.reshape(len(span), -1)
        for r, st in zip(rows[i:j], starts[i:j]):
            a = int(st) - lo
            got = span[a : a + length]
            out[r, : len(got)] = got
            if len(got) < length:
                out[r, len(got) :] = 0
        i = j
