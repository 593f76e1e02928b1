"""TQA as a numcodecs codec (id ``"tqa"``): zarr v2 arrays (and numcodecs users).

Lossy.  A chunk of any supported dtype (int8/16/32/64, uint8/16/32/64, float16/32/64,
either byte order) and any shape comes back with its dtype, shape and memory order,
at the SQNR of the settings whatever its amplitude: the first axis is time, the
others are channels; each encoded chunk carries a small header (dtype, shape, a
power-of-two scale) and complete .tqa streams with their CRCs.  The chunk format and
its limits are in :mod:`tqa.arraycodec`, shared with the zarr v3 codec
:class:`tqa.zarr.TQA`.

An untyped buffer (``bytes``, ``bytearray``) is coded as uint8, as numcodecs reads
it; pass arrays.  ``dtype``/``channels``/``sample_rate`` are accepted only so that
configurations written by tqa <= 0.2 still open, and are used only to read that
version's bare-stream chunks.

Registered through the ``numcodecs.codecs`` entry point, so
``numcodecs.get_codec({"id": "tqa", ...})`` finds it once tqa is installed.
"""

from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_ndarray, ndarray_copy

from .arraycodec import DEFAULT_PROFILE, ChunkSettings, decode_chunk, encode_chunk

__all__ = ["TQA"]

_LEGACY = ("sample_rate", "dtype", "channels")


class TQA(Codec):
    """Lossy array codec: ``profile="time"`` (bits, residual, block_size, seed, qjl_rows),
    ``"spectral"`` (rate or quality, hop, seed) or ``"spectral2"`` (rate or quality, hop,
    seed, rotate, transients, preecho, silence, stereo): the profiles' settings and defaults
    (:mod:`tqa.profiles`; ``rate`` is bits per sample of the whole chunk); ``scale="chunk"``
    (default) or ``"channel"`` (one power-of-two scale per channel, see
    :mod:`tqa.arraycodec`).  Settings a profile gains later pass through ``**more``."""

    codec_id = "tqa"
    max_buffer_size = 2**31 - 1  # bytes, encoded or decoded, as numcodecs' compressors

    def __init__(
        self,
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
        sample_rate: int | None = None,
        dtype: str | None = None,
        channels: int | None = None,
        **more,
    ) -> None:
        self._settings = ChunkSettings(
            profile, scale=scale, bits=bits, residual=residual, block_size=block_size, seed=seed, qjl_rows=qjl_rows,
            rate=rate, quality=quality, hop=hop, rotate=rotate, transients=transients, preecho=preecho, silence=silence,
            stereo=stereo, **more,
        )  # fmt: skip
        for k, v in self._settings.config().items():
            setattr(self, k, v)
        self._legacy = {}
        if sample_rate is not None:
            self._legacy["sample_rate"] = int(sample_rate)
        if dtype is not None:
            self._legacy["dtype"] = np.dtype(dtype).str
        if channels is not None:
            if int(channels) < 1:
                raise ValueError(f"tqa codec: channels must be >= 1, got {channels!r}")
            self._legacy["channels"] = int(channels)

    def encode(self, buf) -> bytes:
        return encode_chunk(ensure_ndarray(buf), self._settings, self.max_buffer_size)

    def decode(self, buf, out=None):
        if out is not None:
            out_arr = ensure_ndarray(out)
            if out_arr.dtype == object:
                raise TypeError("tqa codec: cannot decode into an object array")
        legacy = (self._legacy.get("dtype", "<f4"), self._legacy.get("channels", 1))
        y = decode_chunk(ensure_ndarray(buf), self.max_buffer_size, legacy)
        if out is None:
            return y
        if out_arr.nbytes != y.nbytes:
            raise ValueError(f"tqa codec: out has {out_arr.nbytes} bytes, the chunk decodes to {y.nbytes}")
        return ndarray_copy(y, out)

    def get_config(self) -> dict:
        return {"id": self.codec_id, **self._settings.config(), **self._legacy}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "id")
        return f"TQA({args})"
