"""``TurboAudioEngine``: the audiotq 0.1.1 API, kept working on the TQA codec.

audiotq drew its rotation signs from an unseeded global RNG and never stored them,
so a new process could not decode.  Here the signs come from ``seed``: a new
instance with the same settings decodes what another produced.
"""

from __future__ import annotations

import numpy as np

from .blockcodec import BlockCodec, Settings, log_value
from . import threads
from .registry import get_engine
from .rotation import Rotation
from .samples import as_samples, from_grid, to_grid

__all__ = ["TurboAudioEngine", "BlockScales"]

_MODES = ("silent", "rotation", "fallback", "identity")


class BlockScales(list):
    """Per-block side info ``(channel, mode, scale)`` plus what decoding needs.

    A list, as audiotq's ``meta_scales`` was, with the signal's ``n_samples``,
    ``channels`` and ``dtype`` as attributes so that the exact shape comes back.
    """

    def __init__(self, items, n_samples: int, channels: int, dtype: str) -> None:
        super().__init__(items)
        self.n_samples, self.channels, self.dtype = n_samples, channels, dtype


class TurboAudioEngine:
    """Block codec on in-memory signals (the audiotq 0.1.1 API)."""

    def __init__(
        self,
        block_size: int = 512,
        bits: int = 6,
        residual: str = "sign",
        seed: int = 0,
        engine: str | None = None,
        qjl_rows: int | None = None,
    ) -> None:
        self.settings = Settings(block_size, bits, residual, seed, qjl_rows)
        self.block_size = self.settings.block_size
        self.rotator = Rotation(block_size, seed, engine=engine)
        self._engine = engine

    def _codec(self) -> BlockCodec:
        return BlockCodec(self.settings, get_engine(self._engine))

    def compress_signal(self, raw_audio: np.ndarray) -> tuple[list[bytes], BlockScales]:
        """Code a (n,) or (n, channels) signal; one bytes record per block and channel."""
        x = as_samples(raw_audio, "raw_audio")
        n, c = x.shape
        nb = -(-n // self.block_size)
        grid = np.zeros((c, nb * self.block_size))
        grid[:, :n] = to_grid(x).T
        with threads.limit():
            records = self._codec().encode(grid.reshape(c * nb, self.block_size))
        side = records[:, 0:2].copy().view("<u2")[:, 0]
        scales = log_value(side & 0x0FFF)
        meta = [(i // max(nb, 1), _MODES[s >> 12], float(v)) for i, (s, v) in enumerate(zip(side, scales))]
        dtype = "float32" if x.dtype == np.float32 else str(x.dtype)
        return [r.tobytes() for r in records], BlockScales(meta, n, c, dtype)

    def decompress_signal(self, compressed_blocks: list[bytes], meta_scales: BlockScales) -> np.ndarray:
        """Inverse of :meth:`compress_signal`: the signal's shape and dtype come back."""
        if not isinstance(meta_scales, BlockScales):
            raise TypeError("meta_scales must be the BlockScales returned by compress_signal")
        n, c = meta_scales.n_samples, meta_scales.channels
        nb = -(-n // self.block_size)
        r = self.settings.record_bytes
        if len(compressed_blocks) != c * nb or any(len(b) != r for b in compressed_blocks):
            raise ValueError(
                f"expected {c * nb} blocks of {r} bytes for {n} samples x {c} channels with these settings"
            )
        records = np.frombuffer(b"".join(compressed_blocks), np.uint8).reshape(c * nb, r)
        with threads.limit():
            grid = self._codec().decode(records).reshape(c, nb * self.block_size)[:, :n].T
        out = from_grid(grid, meta_scales.dtype)
        return out[:, 0] if c == 1 else out
