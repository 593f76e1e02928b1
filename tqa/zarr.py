"""TQA as a zarr v3 codec: an ``ArrayBytesCodec`` (a *serializer*) named ``"tqa"``.

Registered through the ``zarr.codecs`` entry point, so once tqa is installed::

    zarr.create_array(store, shape=(n, 16), chunks=(48000, 16), dtype="int16",
                      serializer={"name": "tqa", "configuration": {"bits": 6}})
    # or serializer=tqa.zarr.TQA(bits=6), or TQA(profile="spectral2", rate=3.2)

writes, and any process with tqa installed opens and reads it without importing
tqa first.  Same chunk format and settings as the numcodecs codec
(:mod:`tqa.numcodecs`, zarr v2); see :mod:`tqa.arraycodec` for the format, the
shape convention (first axis time, the others channels) and the scale-free SQNR.
Bytes-to-bytes compressors may follow it (they gain little: the streams are dense).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from zarr.abc.codec import ArrayBytesCodec, ArrayBytesCodecPartialDecodeMixin
from zarr.core.common import parse_named_configuration

from .arraycodec import DEFAULT_PROFILE, ChunkSettings, check_dtype, decode_chunk, encode_chunk

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = ["TQA"]

_FIELDS = ("profile", "bits", "residual", "block_size", "seed", "qjl_rows", "rate", "quality", "hop", "rotate", "transients",
           "preecho", "silence", "stereo", "scale")  # fmt: skip


@dataclass(frozen=True, init=False)
class TQA(ArrayBytesCodec, ArrayBytesCodecPartialDecodeMixin):
    """Lossy zarr v3 serializer: ``profile="time"`` (bits, residual, block_size, seed, qjl_rows),
    ``"spectral"`` (rate or quality, hop, seed) or ``"spectral2"`` (rate or quality, hop, seed,
    rotate, transients, preecho, silence, stereo): the profiles' settings and defaults
    (:mod:`tqa.profiles`; ``rate`` is bits per sample of the whole chunk); ``scale="chunk"``
    (default) or ``"channel"`` (see :mod:`tqa.arraycodec`).  Settings a profile gains later
    pass through ``**more``."""

    is_fixed_size = False

    profile: str
    bits: int | None
    residual: str | None
    block_size: int | None
    seed: int | None
    qjl_rows: int | None
    rate: float | None
    quality: float | None
    hop: int | str | None
    rotate: bool | None
    transients: bool | None
    preecho: bool | None
    silence: bool | None
    stereo: str | None
    scale: str | None

    def __init__(
        self,
        *,
        profile: str = DEFAULT_PROFILE,
        bits: int | None = None,
        residual: str | None = None,
        block_size: int | None = None,
        seed: int | None = None,
        qjl_rows: int | None = None,
        rate: float | None = None,
        quality: float | None = None,
        hop: int | str | None = None,
        rotate: bool | None = None,
        transients: bool | None = None,
        preecho: bool | None = None,
        silence: bool | None = None,
        stereo: str | None = None,
        scale: str | None = None,
        **more,
    ) -> None:
        cs = ChunkSettings(profile, scale=scale, bits=bits, residual=residual, block_size=block_size, seed=seed,
                           qjl_rows=qjl_rows, rate=rate, quality=quality, hop=hop, rotate=rotate, transients=transients,
                           preecho=preecho, silence=silence, stereo=stereo, **more)  # fmt: skip
        cfg = cs.config()
        for k in _FIELDS:
            object.__setattr__(self, k, cfg.get(k))
        object.__setattr__(self, "_settings", cs)

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        _, cfg = parse_named_configuration(data, "tqa", require_configuration=False)
        return cls(**(cfg or {}))

    def to_dict(self) -> dict:
        return {"name": "tqa", "configuration": self._settings.config()}

    def __eq__(self, other) -> bool:  # the whole configuration (settings beyond the declared fields too)
        return isinstance(other, TQA) and self._settings.config() == other._settings.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._settings.config().items())))

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        check_dtype(dtype.to_native_dtype())

    def __repr__(self) -> str:
        return "TQA(" + ", ".join(f"{k}={v!r}" for k, v in self._settings.config().items()) + ")"

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        x = chunk_array.as_numpy_array()
        data = await asyncio.to_thread(encode_chunk, x, self._settings)
        return chunk_spec.prototype.buffer.from_bytes(data)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        y = await asyncio.to_thread(decode_chunk, chunk_bytes.to_bytes())
        if y.shape != tuple(chunk_spec.shape):
            raise ValueError(f"tqa codec: chunk of shape {y.shape}, the array's chunks are {tuple(chunk_spec.shape)}")
        want = chunk_spec.dtype.to_native_dtype()
        if y.dtype != want:
            y = y.astype(want)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(np.array(y, order="C", copy=None))

    async def _decode_partial_single(self, byte_getter, selection, chunk_spec: ArraySpec) -> NDBuffer | None:
        """Read a selection of a chunk, decoding only the stream frames its time rows need
        (zarr uses this when no bytes-to-bytes codec follows: ``compressors=None``)."""
        buf = await byte_getter.get(prototype=chunk_spec.prototype)
        if buf is None:
            return None
        sel = selection if isinstance(selection, tuple) else (selection,)
        first = sel[0] if sel else slice(None)
        n = chunk_spec.shape[0] if chunk_spec.shape else 1
        if isinstance(first, slice) and (first.step is None or first.step > 0):
            lo, hi, step = first.indices(n)
            rel = (slice(0, max(hi - lo, 0), step),)
        elif isinstance(first, slice):  # a negative step: decode it all
            lo, hi, rel = 0, n, (first,)
        elif isinstance(first, (int, np.integer)):
            lo, hi, rel = int(first), int(first) + 1, (0,)
        else:
            idx = np.asarray(first)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            if idx.size == 0:
                lo, hi, rel = 0, 0, (idx,)
            else:
                lo, hi = int(idx.min()), int(idx.max()) + 1
                rel = (idx - lo,)
        if not chunk_spec.shape:
            lo, hi, rel = 0, 1, ()
        y = await asyncio.to_thread(decode_chunk, buf.to_bytes(), None, None, (lo, hi))
        want = chunk_spec.dtype.to_native_dtype()
        if y.dtype != want:
            y = y.astype(want)
        out = y[rel + tuple(sel[1:])] if chunk_spec.shape else y[sel]
        return chunk_spec.prototype.nd_buffer.from_numpy_array(np.array(out, order="C", copy=None))

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("tqa codec: variable-size output")
