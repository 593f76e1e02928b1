"""The engine contract: the hot kernels of both profiles, and why every engine gives the same bits.

An engine implements four kernels on 2-D arrays, one block per row:

* :meth:`Engine.rotate` ``H · (signs * x)`` and :meth:`Engine.unrotate` ``signs * (H · y)``
  (unnormalized Walsh–Hadamard in Sylvester order; the codec divides by N);
* :meth:`Engine.quantize` – the number of thresholds ``<= y / scale[row]``;
* :meth:`Engine.dequantize` – ``round_half_even(levels[codes] * scale[row])``;

plus optional methods with NumPy defaults that every engine inherits (most built from those
kernels), which an engine may replace by one compiled pass (like libFLAC's function
pointers: the drivers call them and never know which implementation runs):

* :meth:`Engine.analyze` / :meth:`Engine.synthesize` – the kernels chained;
* :meth:`Engine.try_modes` – the first retry of the hard blocks (the other modes at the
  nominal scale); the default declines every block, which the driver then retries itself;
* :meth:`Engine.to_grid` / :meth:`Engine.from_grid` – samples to and from the integer grid
  (:mod:`tqa.samples`, whose functions are the defaults);
* :meth:`Engine.encode_blocks` / :meth:`Engine.decode_blocks` – the time-domain profile's
  primary path whole: block energies, scale codes, rotation, quantization, the squared
  error of each block, and the packing of block records (resp. their unpacking,
  reconstruction and inverse rotation, in every mode).  The defaults are the reference arithmetic
  (NumPy's ``einsum`` sums, :mod:`tqa.bitpack`); a replacement must give the same bytes and
  values, and may prove its own sums exact (integers, every partial sum below 2**53, as on
  the int16 grid) and hand the other rows to the default (the numba engine does).

Exactness.  Inputs to the rotations hold integers in float64 with ``|value| < 2**53``
once summed (the format's limits guarantee it: the grid stays below 2**27, blocks are at
most 2**13 samples, reconstructions are bounded by each profile's largest scale code), so
every Hadamard sum is exact in any order, with or without FMA or BLAS blocking.  Quantizing
is one correctly rounded division followed by exact comparisons, dequantizing one correctly
rounded multiplication followed by an exact rounding to the integer grid.  Engines may
therefore differ in algorithm (butterflies, matrix products, tiling, compiled loops) but
never in a bit: the conformance tests (tests/test_engines.py, tests/test_golden.py) check it.

Engines are registered by name in :mod:`tqa.registry`; the drivers never know which runs.
"""

from __future__ import annotations

import abc
from typing import Any

Array = Any

__all__ = ["Engine", "Array"]


class Engine(abc.ABC):
    """Hot kernels of the codecs; see the module docstring for the exactness contract."""

    name: str = "engine"

    @abc.abstractmethod
    def rotate(self, x: Array, signs: Array) -> Array:
        """``H · (signs * x)`` per row."""

    @abc.abstractmethod
    def unrotate(self, y: Array, signs: Array) -> Array:
        """``signs * (H · y)`` per row (N times the inverse rotation)."""

    @abc.abstractmethod
    def quantize(self, y: Array, scale: Array, thresholds: Array) -> Array:
        """Cell index per element: ``#{t in thresholds : t <= y / scale[row]}``."""

    @abc.abstractmethod
    def dequantize(self, codes: Array, scale: Array, levels: Array) -> Array:
        """``round_half_even(levels[codes] * scale[row])``: reconstruction on the integer grid."""

    def analyze(self, x: Array, signs: Array, scale: Array, thresholds: Array, levels: Array):
        """``(y, codes, ŷ)`` = rotate, quantize, dequantize."""
        y = self.rotate(x, signs)
        codes = self.quantize(y, scale, thresholds)
        return y, codes, self.dequantize(codes, scale, levels)

    def synthesize(self, codes: Array, scale: Array, levels: Array, signs: Array) -> Array:
        """``unrotate(dequantize(codes))``: N times the decoded blocks."""
        return self.unrotate(self.dequantize(codes, scale, levels), signs)

    def encode_blocks(self, x: Array, signs: Array, thresholds: Array, levels: Array, cuts: Array, scales: Array,
                      bits: int, split: bool, records: Array):  # fmt: skip
        """Code grid blocks ``x`` (rows, N; integers) in the primary rotation into ``records``.

        ``records``: a C-contiguous (rows, R) uint8 array, ``R = 2 + N·bits/8`` (``+ N/8``
        with ``split``), filled with the time-domain block records (:mod:`tqa.format`) of
        mode 1 (mode 0 for rows of zero energy): the u16 side info ``k | 1 << 12`` with
        ``k = searchsorted(cuts, sqrt(energy), side="right") + 1`` (the 12-bit log code of
        the block's RMS), the cell indices against ``thresholds`` at scale ``scales[k]``
        (``scales[0]`` for silent rows, whose codes are then stored as zeros), packed in
        ``bits`` bits, and with ``split`` (the sign residual) the index's low bit apart:
        ``code >> 1`` in ``bits`` bits, then ``code & 1`` in one.

        Returns ``(energy, dsum)``: per row ``sum(x**2)`` and ``sum((y - ŷ)**2)`` (``y`` the
        rotated block, ``ŷ`` its reconstruction), as ``np.einsum("ij,ij->i")`` gives them.
        """
        import numpy as np

        from . import bitpack

        x = np.asarray(x, dtype=np.float64)
        energy = np.einsum("ij,ij->i", x, x)
        k = np.searchsorted(cuts, np.sqrt(energy), side="right") + 1
        k = np.where(energy > 0, k, 0)
        y, codes, yhat = self.analyze(x, signs, np.asarray(scales)[k], thresholds, levels)
        codes = np.asarray(codes)
        d = np.asarray(y) - np.asarray(yhat)
        dsum = np.einsum("ij,ij->i", d, d)
        silent = energy == 0
        codes[silent] = 0
        side = (k | np.where(silent, 0, 1 << 12)).astype("<u2")
        records[:, 0:2] = side.view(np.uint8).reshape(-1, 2)
        cb = x.shape[1] * bits // 8
        records[:, 2 : 2 + cb] = bitpack.pack(codes >> 1 if split else codes, bits)
        if split:
            records[:, 2 + cb :] = bitpack.pack(codes & 1, 1)
        return energy, dsum

    def decode_blocks(self, records: Array, scale: Array, levels: Array, signs: Array, bits: int, split: bool,
                      out: Array, mode: Array | None = None, fallback: Array | None = None) -> Array:  # fmt: skip
        """Reconstruct blocks from their records: ``out[:] = synthesize(codes, scale, levels, signs) / N``.

        ``records`` (rows, R) as :meth:`encode_blocks` writes them (the side info is not read:
        ``scale`` holds each row's scale, 0 for silent rows); ``out`` a C-contiguous float64
        (rows, N) array.  With ``mode`` (per row), rows of mode 2 are unrotated with the
        ``fallback`` signs instead and rows of mode 3 are not rotated (``ŷ / N``).  Returns ``out``.
        """
        import numpy as np

        from . import bitpack

        n = out.shape[1]
        cb = n * bits // 8

        def codes_of(rec):
            c = bitpack.unpack(rec[:, 2 : 2 + cb], bits, n)
            if split:
                c = (c.astype(np.int16) << 1) | bitpack.unpack(rec[:, 2 + cb :], 1, n)
            return c

        np.divide(np.asarray(self.synthesize(codes_of(records), scale, levels, signs)), float(n), out=out)
        if mode is not None:
            mode = np.asarray(mode)
            for m in (2, 3):
                rows = np.flatnonzero(mode == m)
                if rows.size:
                    yhat = np.asarray(self.dequantize(codes_of(records[rows]), np.asarray(scale)[rows], levels))
                    out[rows] = (np.asarray(self.unrotate(yhat, fallback)) if m == 2 else yhat) / float(n)
        return out

    def try_modes(self, y2: Array, y3: Array, sum2: Array, sum3: Array, energy: Array, best: Array, mode: Array,
                  k: Array, codes: Array, thresholds: Array, levels: Array, cuts: Array, scales: Array,
                  limits: tuple[int, int]) -> Array:  # fmt: skip
        """Retry hard blocks in mode 2 (``y2``: their coefficients in the fallback rotation) and then
        mode 3 (``y3 = N·x``, identity), each at its nominal scale code ``clip(searchsorted(cuts,
        sqrt(e), "right") + 1, 1, limit)`` (``e``: the blocks' ``energy`` sum(x**2), resp.
        ``N·energy``; ``limits``: the rotations' and identity's largest code).  A mode wins a block
        when its error ``sum((y - ŷ)**2) / sum_m`` (the squared error as ``einsum`` sums it;
        ``sum2``/``sum3``: ``sum(y**2)``, the driver's ``einsum``) is below ``best``, the block's
        error so far, which is then lowered; the winner's mode, scale code and cell indices go to
        ``mode``, ``k`` and ``codes`` (in place), as the driver's
        :meth:`tqa.blockcodec.BlockCodec._recode_hard` does.

        Returns a bool mask of the blocks done; the others must be left untouched (the driver
        retries them).  The default does none: an engine that proves its sums exact may.
        """
        import numpy as np

        return np.zeros(len(y2), bool)

    def to_grid(self, x: Array, out: Array | None = None) -> Array:
        """:func:`tqa.samples.to_grid`: validated samples to float64 integers on the grid."""
        from .samples import to_grid

        return to_grid(x, out)

    def from_grid(self, g: Array, dtype: str, out: Array | None = None) -> Array:
        """:func:`tqa.samples.from_grid`: grid values to output samples of ``dtype``."""
        from .samples import from_grid

        return from_grid(g, dtype, out)

    def __repr__(self) -> str:
        return f"<tqa engine {self.name!r}>"
