"""``"scipy"`` engine: the rotation as a matrix multiply with ``scipy.linalg.hadamard``.

The signs are folded into the matrix (``x @ (D·H)``), so a rotation is one BLAS
call.  Above 1024 the N×N matrix stops fitting in cache (and costs N² memory), so
``H_N = H_a ⊗ H_b`` is used instead: reshape each block to (a, b) and multiply by
``H_a`` on the left and ``H_b`` on the right.  All products are of integers below
2**53, so BLAS blocking and FMA cannot change a single bit.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg import hadamard

from .array_api import ArrayAPIEngine

_DIRECT_MAX = 1024


@functools.lru_cache(maxsize=16)
def _hadamard(n: int) -> np.ndarray:
    return hadamard(n).astype(np.float64)


@functools.lru_cache(maxsize=16)
def _signed(n: int, sign_bytes: bytes, left: bool) -> np.ndarray:
    s = np.frombuffer(sign_bytes, np.float64)
    h = _hadamard(n)
    return s[:, None] * h if left else h * s[None, :]


class ScipyEngine(ArrayAPIEngine):
    name = "scipy"

    @staticmethod
    def _kron(x: np.ndarray) -> np.ndarray:
        rows, n = x.shape
        a = 1 << ((n.bit_length() - 1) // 2)
        b = n // a
        t = x.reshape(rows * a, b) @ _hadamard(b)  # right factor on contiguous rows
        t = t.reshape(rows, a, b)
        return np.matmul(_hadamard(a), t).reshape(rows, n)

    def rotate(self, x: np.ndarray, signs: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        if n <= _DIRECT_MAX:
            return x @ _signed(n, np.ascontiguousarray(signs).tobytes(), True)
        return self._kron(x * signs)

    def unrotate(self, y: np.ndarray, signs: np.ndarray) -> np.ndarray:
        n = y.shape[1]
        if n <= _DIRECT_MAX:
            return y @ _signed(n, np.ascontiguousarray(signs).tobytes(), False)
        return self._kron(y) * signs
