"""TQA as a numcodecs codec (id ``"tqa"``), for zarr arrays of audio.

Lossy: a chunk of samples (``dtype``: int16, int32, float32 or float64, interleaved
``channels``) comes back with its shape and dtype, at the SQNR of the settings (about
38 dB for the default 6 bits + sign on any signal; see the README's table).  Like
numcodecs' own filters, the codec reads a chunk's bytes as ``dtype`` (so any buffer
works: an array, bytes, a memoryview).  Each
encoded chunk is a complete .tqa stream, so it carries its own CRCs and decodes on
its own.  Registered through the ``numcodecs.codecs`` entry point, so
``numcodecs.get_codec({"id": "tqa", ...})`` finds it once tqa is installed.
"""

from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ensure_ndarray, ndarray_copy

from . import api
from .blockcodec import Settings

__all__ = ["TQA"]

_DTYPES = ("int16", "int32", "float32", "float64")


class TQA(Codec):
    """Lossy audio codec: seeded Walsh–Hadamard rotation + Lloyd–Max + 1-bit residual."""

    codec_id = "tqa"

    def __init__(
        self,
        bits: int = 6,
        residual: str = "sign",
        block_size: int = 512,
        seed: int = 0,
        qjl_rows: int | None = None,
        sample_rate: int = 48000,
        dtype: str = "float32",
        channels: int = 1,
    ) -> None:
        Settings(block_size, bits, residual, seed, qjl_rows)  # validate now, not at the first chunk
        if np.dtype(dtype).name not in _DTYPES:
            raise ValueError(f"tqa codec: dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        if int(channels) < 1:
            raise ValueError(f"tqa codec: channels must be >= 1, got {channels!r}")
        self.bits, self.residual, self.block_size, self.seed = int(bits), residual, int(block_size), int(seed)
        self.qjl_rows = None if qjl_rows is None else int(qjl_rows)
        self.sample_rate = int(sample_rate)
        self.dtype = np.dtype(dtype).str
        self.channels = int(channels)

    def encode(self, buf) -> bytes:
        x = ensure_ndarray(buf)
        if x.dtype.kind not in "iuf" or x.dtype == object:
            raise TypeError(f"tqa codec: cannot encode {x.dtype} data")
        x = x.view(self.dtype).reshape(-1, self.channels)
        return api.encode(
            x, self.sample_rate, bits=self.bits, residual=self.residual, block_size=self.block_size,
            seed=self.seed, qjl_rows=self.qjl_rows,
        )  # fmt: skip

    def decode(self, buf, out=None):
        y = api.Decoder(ensure_bytes(buf)).read(dtype=np.dtype(self.dtype).name)
        y = y.astype(self.dtype, copy=False)  # the configured byte order
        return ndarray_copy(y, out) if out is not None else y

    def get_config(self) -> dict:
        cfg = {"id": self.codec_id, "bits": self.bits, "residual": self.residual, "block_size": self.block_size,
               "seed": self.seed, "sample_rate": self.sample_rate, "dtype": self.dtype, "channels": self.channels}  # fmt: skip
        if self.qjl_rows is not None:
            cfg["qjl_rows"] = self.qjl_rows
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "id")
        return f"TQA({args})"
