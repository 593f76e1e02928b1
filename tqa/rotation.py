"""Seeded random-sign Walsh–Hadamard rotation.

``y = H · D · x`` where ``H`` is the (unnormalized, entries +-1) Sylvester
Walsh–Hadamard matrix of order N and ``D`` a diagonal of +-1 signs.  Because ``H``
has integer entries, ``y`` is exact for integer ``x`` (in float64 while |y| < 2**53),
whatever order an engine sums in; the inverse is ``x = D · H · y / N``.

Sign generator (part of the .tqa format, so it is specified here, not delegated to
NumPy's ``Generator``, whose streams may change between releases)::

    stream(label, seed, N) = SHAKE-256(b"TQA-signs" || label || u64le(seed) || u32le(N))
    signs[i] = -1 if bit i of the stream (MSB first within each byte) is 1 else +1

Labels: ``0x00`` the primary rotation, ``0x01`` the fallback rotation of hard blocks,
``0x02`` the signs of the QJL sketch.  The QJL row subset (``m < N``) takes the ``m``
smallest 32-bit little-endian keys of ``SHAKE-256(b"TQA-rows" || u64le(seed) ||
u32le(N))`` (ties broken by index), in increasing row order.
"""

from __future__ import annotations

import functools
try:  # CPython's own SHAKE: hashlib's import loads OpenSSL first (~13 ms of a one-shot process)
    from _sha3 import shake_256
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import shake_256

import numpy as np

from .profiles.settings import MAX_BLOCK, MIN_BLOCK, check_block_size, check_seed  # noqa: F401 (re-exported)
from .registry import get_engine

__all__ = ["Rotation", "signs", "qjl_rows", "MIN_BLOCK", "MAX_BLOCK", "check_block_size", "check_seed"]

PRIMARY, FALLBACK, QJL = 0, 1, 2


@functools.lru_cache(maxsize=64)
def signs(block_size: int, seed: int, label: int = PRIMARY) -> np.ndarray:
    """The +-1 diagonal (float64, read-only) for ``label`` as specified above."""
    data = b"TQA-signs" + bytes([label]) + seed.to_bytes(8, "little") + block_size.to_bytes(4, "little")
    bits = np.unpackbits(np.frombuffer(shake_256(data).digest(block_size // 8), np.uint8))
    out = 1.0 - 2.0 * bits.astype(np.float64)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def qjl_rows(block_size: int, seed: int, rows: int) -> np.ndarray:
    """Indices of the ``rows`` Hadamard rows used by the QJL sketch (sorted, read-only)."""
    if rows == block_size:
        out = np.arange(block_size)
    else:
        data = b"TQA-rows" + seed.to_bytes(8, "little") + block_size.to_bytes(4, "little")
        keys = np.frombuffer(shake_256(data).digest(4 * block_size), "<u4")
        out = np.sort(np.argsort(keys, kind="stable")[:rows])
    out.flags.writeable = False
    return out


class Rotation:
    """The seeded rotation ``y = H·D·x`` on blocks of ``block_size`` samples.

    ``forward`` and ``inverse`` act on the last axis (shape (..., N)); ``H`` is not
    normalized, so ``forward`` scales energy by N and ``inverse`` divides by N:
    ``inverse(forward(x)) == x`` exactly for integer-valued ``x``.
    """

    def __init__(self, block_size: int = 512, seed: int = 0, *, engine: str | None = None) -> None:
        self.block_size = check_block_size(block_size)
        self.seed = check_seed(seed)
        self.engine = engine

    @property
    def signs(self) -> np.ndarray:
        return signs(self.block_size, self.seed, PRIMARY)

    def _apply(self, a: np.ndarray, inverse: bool) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.shape[-1:] != (self.block_size,):
            raise ValueError(f"last axis must have length block_size={self.block_size}, got shape {a.shape}")
        flat = np.ascontiguousarray(a.reshape(-1, self.block_size))
        eng = get_engine(self.engine)
        out = eng.unrotate(flat, self.signs) / self.block_size if inverse else eng.rotate(flat, self.signs)
        return np.asarray(out).reshape(a.shape)

    def forward(self, blocks: np.ndarray) -> np.ndarray:
        """``H · D · x`` for each block."""
        return self._apply(blocks, inverse=False)

    def inverse(self, coeffs: np.ndarray) -> np.ndarray:
        """``D · H · y / N`` for each block (the exact inverse of :meth:`forward`)."""
        return self._apply(coeffs, inverse=True)

    def __repr__(self) -> str:
        return f"Rotation(block_size={self.block_size}, seed={self.seed})"
