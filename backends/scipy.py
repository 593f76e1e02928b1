"""``"scipy"`` engine: the rotation as matrix products with ``scipy.linalg.hadamard``.

For N <= 64 the signs are folded into the matrix (``x @ (D·H)``, one BLAS call); above
that the Kronecker factorization of :class:`backends._common.KronHadamard`.  Quantizing
is the shared lookup-table kernel.
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import MatrixEngine


@functools.lru_cache(maxsize=16)
def hadamard(n: int) -> np.ndarray:
    """SciPy's n×n Walsh–Hadamard matrix in float64 (imported lazily: scipy.linalg costs ~0.2 s)."""
    from scipy.linalg import hadamard as scipy_hadamard

    return scipy_hadamard(n).astype(np.float64)


class ScipyEngine(MatrixEngine):
    name = "scipy"

    def __init__(self) -> None:
        super().__init__(hadamard)
