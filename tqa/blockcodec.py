"""The time-domain block codec: rotation, scale, Lloyd–Max, residual layer, block modes.

One block is N grid samples of one channel (see :mod:`tqa.samples`).  Encoding:

1. ``sigma = ||x||`` (the RMS of the rotated coefficients), stored as a 12-bit log
   code ``k`` (1/16-octave steps, :func:`log_value`); ``sigma_q`` is the stored value.
2. ``y = H·D·x`` (exact integers) and ``code = #{thresholds <= y / sigma_q}`` against
   the frozen Lloyd–Max table (:mod:`tqa.codebook`).
3. Residual layer:
   * ``"sign"`` – the half-cell bit: quantization against the refined table, whose cell
     ``c`` is half ``c & 1`` of Lloyd–Max cell ``c >> 1``;
   * ``"qjl"`` – with ``r = y - ŷ`` (integers), ``p = (H·D_q·r)[rows]``, the ``m`` bits
     ``p >= 0`` and ``alpha = sum|p| / (m·N)``, a 12-bit log code.  The decoder adds
     ``rint(alpha·D_q·H·P^T z)`` (z = +-1).  ``alpha`` is the least-squares gain
     ``<r, S^T z> / ||S^T z||^2`` of the sketch ``S = P·H·D_q`` (rows orthogonal, norm²
     N), not TurboQuant_prod's unbiased ``sqrt(pi/2)/m·||r||``: unbiased inner
     products are not minimum MSE, and the unbiased gain adds more noise than it
     removes (30.0 dB vs 31.9 dB without residual at 6 bits).  The shrunk gain
     captures a fraction ``(2/pi)·m/N`` of the residual energy.
4. Reconstruction ``ŷ = rint(level·sigma_q)`` lies on the integer grid, so the
   inverse Hadamard sums are exact too and every engine decodes the same bits.

Block modes (2 bits of side info): 0 silent (decodes to exact zeros), 1 primary
rotation, 2 fallback rotation (second seed), 3 identity (no rotation; ``y = N·x``).
Blocks that the primary rotation concentrates (``x = D·h_k`` rotates into a single
spike; an impulse into values of one magnitude) are detected by their measured
error – more than ``HARD_BLOCK_DB`` below the nominal SQNR – and recoded with the
mode and scale offset (``SCALE_SEARCH``) that measure best.
"""

from __future__ import annotations


import numpy as np

from . import bitpack
from .engine import Engine
from .profiles.settings import RESIDUALS  # noqa: F401 (re-exported)
from .profiles.settings import BlockSettings as Settings
from .rotation import FALLBACK, PRIMARY, QJL, qjl_rows, signs

__all__ = ["Settings", "BlockCodec", "BlockError", "RESIDUALS", "log_code", "log_value"]

MODE_SILENT, MODE_PRIMARY, MODE_FALLBACK, MODE_IDENTITY = 0, 1, 2, 3
HARD_BLOCK_DB = 1.0
SCALE_SEARCH = range(-16, 17, 2)  # scale offsets tried on hard blocks: +-1 octave in 1/8 steps

# 12-bit log codes: k = 0 is zero, k = 1..4095 is 2**((k - 1024) / 16).  Values are
# built from a frozen 16-entry table and ldexp, so they are exact and identical on
# every platform (no exp2 in the decoder).
LOG_BIAS, LOG_STEPS, LOG_MAX = 1024, 16, 4095
_FRAC = np.round(2.0 ** (np.arange(LOG_STEPS) / LOG_STEPS) * 2.0**40) * 2.0**-40
_HALF = np.round(2.0 ** ((np.arange(LOG_STEPS) + 0.5) / LOG_STEPS) * 2.0**40) * 2.0**-40
_K = np.arange(1, LOG_MAX)
_CUTS = np.ldexp(_HALF[(_K - LOG_BIAS) % LOG_STEPS], (_K - LOG_BIAS) // LOG_STEPS)  # between k and k+1
# Largest scale a valid encoder writes: sigma <= sqrt(8192)·2**27 (rotations),
# sqrt(8192)·||x|| <= 2**40 (identity).  Larger codes are rejected as corrupt.
MAX_SCALE_CODE = LOG_BIAS + LOG_STEPS * 41
QJL_GAIN_SLACK = 2 * LOG_STEPS  # alpha <= 4·sigma_q


def log_code(v: np.ndarray) -> np.ndarray:
    """Nearest 12-bit log code (on a log scale) of non-negative ``v``; 0 for 0."""
    k = np.searchsorted(_CUTS, v, side="right") + 1
    return np.where(v > 0, k, 0).astype(np.uint16)


def log_value(k: np.ndarray) -> np.ndarray:
    """The value of a 12-bit log code (0 for code 0)."""
    k = np.asarray(k, dtype=np.int64)
    e = k - LOG_BIAS
    return np.where(k > 0, np.ldexp(_FRAC[e % LOG_STEPS], e // LOG_STEPS), 0.0)


_ALL = np.arange(LOG_MAX + 1)
_SCALES = np.where(_ALL > 0, log_value(_ALL), 1.0)  # the quantizer's scale per code (1.0: silent rows, discarded)
_LEVELS = np.where(_ALL > 0, log_value(_ALL), 0.0)  # the decoder's (a silent block is exact zeros)
for _t in (_CUTS, _SCALES, _LEVELS):
    _t.flags.writeable = False


class BlockError(ValueError):
    """An undecodable block record; ``row`` is its index in the decoded batch."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(f"block {row}: {message}")
        self.row, self.detail = row, message


class BlockCodec:
    """Encodes (blocks, N) grid arrays to (blocks, record_bytes) records and back."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.s = settings
        self.engine = engine
        n = settings.block_size
        self._signs = {MODE_PRIMARY: signs(n, settings.seed, PRIMARY), MODE_FALLBACK: signs(n, settings.seed, FALLBACK)}
        cb = settings.codebook
        self._thresholds, self._levels = cb.boundaries, cb.centroids
        if settings.residual == "qjl":
            self._qjl_signs = signs(n, settings.seed, QJL)
            self._rows = qjl_rows(n, settings.seed, settings.qjl_rows)
        # error budget per unit coefficient energy above which a block is "hard"
        self._hard_mse = settings.nominal_mse * 10.0 ** (HARD_BLOCK_DB / 10.0)
        self._record_bytes = settings.record_bytes
        self._fused = settings.residual != "qjl"  # the engine's encode_blocks / decode_blocks apply

    # -- transform helpers -------------------------------------------------------
    def _forward(self, x: np.ndarray, mode: int) -> np.ndarray:
        if mode == MODE_IDENTITY:
            return x * float(self.s.block_size)
        return self.engine.rotate(x, self._signs[mode])

    def _inverse(self, y: np.ndarray, mode: int) -> np.ndarray:
        n = float(self.s.block_size)
        if mode == MODE_IDENTITY:
            return y / n
        return self.engine.unrotate(y, self._signs[mode]) / n

    def _qjl_correction(self, z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``rint(alpha · D_q·H·P^T z)`` for +-1 sketches ``z`` of shape (rows, m)."""
        full = np.zeros((z.shape[0], self.s.block_size))
        full[:, self._rows] = z
        back = self.engine.unrotate(full, self._qjl_signs)
        return np.rint(back * alpha[:, None])

    # -- encoding ----------------------------------------------------------------
    def _scale_code(self, energy: np.ndarray, mode: int) -> np.ndarray:
        """Log code of sigma, the RMS of the block's coefficients in ``mode``."""
        n = self.s.block_size
        return log_code(np.sqrt(energy * n) if mode == MODE_IDENTITY else np.sqrt(energy))

    @staticmethod
    def _scale(k: np.ndarray) -> np.ndarray:
        return np.where(k > 0, log_value(k), 1.0)  # 1.0 keeps silent rows finite; they are discarded

    def _quantize(self, y: np.ndarray, k: np.ndarray):
        """Quantize coefficients at scale codes ``k``: (ŷ, codes, QJL sketch, QJL gain code)."""
        scale = self._scale(k)
        codes = np.asarray(self.engine.quantize(y, scale, self._thresholds))
        yhat = np.asarray(self.engine.dequantize(codes, scale, self._levels))
        return self._qjl(y, yhat, k, codes)

    def _qjl(self, y: np.ndarray, yhat: np.ndarray, k: np.ndarray, codes: np.ndarray):
        """Add the QJL layer (if enabled): (ŷ, codes, sketch, gain code)."""
        if self.s.residual != "qjl":
            return yhat, codes, None, None
        p = self.engine.rotate(y - yhat, self._qjl_signs)[:, self._rows]
        z = p >= 0
        # alpha <= ||r|| / sqrt(m·N) <= ~2.1·sigma; the clamp only makes the decoder's bound explicit
        ka = np.minimum(log_code(np.sum(np.abs(p), axis=1) / (self.s.qjl_rows * self.s.block_size)), k + QJL_GAIN_SLACK)
        return yhat + self._qjl_correction(np.where(z, 1.0, -1.0), log_value(ka)), codes, z, ka

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Code grid blocks ``x`` (rows, N) into records (rows, record_bytes) uint8."""
        if self._fused:
            return self._encode_fused(x)
        rows, n = x.shape
        energy = np.einsum("ij,ij->i", x, x)
        k = self._scale_code(energy, MODE_PRIMARY)
        y, codes, yhat = self.engine.analyze(x, self._signs[MODE_PRIMARY], self._scale(k), self._thresholds, self._levels)
        yhat, codes, z, ka = self._qjl(y, yhat, k, np.asarray(codes))
        mode = np.where(energy > 0, MODE_PRIMARY, MODE_SILENT)
        d = y - yhat
        err = np.einsum("ij,ij->i", d, d) / np.maximum(energy * n, 1.0)  # sum(y**2) = N·||x||² (Parseval)
        hard = np.flatnonzero((err > self._hard_mse) & (energy > 0))
        if hard.size:
            self._recode_hard(x[hard], y[hard], energy[hard], err[hard], hard, mode, k, codes, z, ka)
        silent = mode == MODE_SILENT
        k[silent] = 0
        codes[silent] = 0
        if z is not None:
            z[silent] = False
            ka[silent] = 0
        return self._pack(mode, k, codes, z, ka)

    def _encode_fused(self, x: np.ndarray) -> np.ndarray:
        """:meth:`encode` without QJL: :meth:`encode_primary`, then the hard blocks recoded."""
        records, job = self.encode_primary(x)
        if job is not None:
            self.recode([job])
        return records

    def encode_primary(self, x: np.ndarray):
        """Code grid blocks in the primary rotation: ``(records, job)``, where ``job`` (None if
        there is none) names the hard blocks whose records :meth:`recode` must still redo.

        Streaming coders hand :meth:`recode` the jobs of several calls at once: the retries of
        a block do not depend on the blocks coded with it, and the per-call cost of the
        retries (a few dozen array operations) is then paid once for many blocks.
        One engine pass (:meth:`tqa.engine.Engine.encode_blocks`) codes every block; with
        the QJL residual, :meth:`encode` codes them whole (``job`` None).
        """
        if not self._fused:
            return self.encode(x), None
        s, n = self.s, self.s.block_size
        x = np.ascontiguousarray(x, dtype=np.float64)
        records = np.empty((x.shape[0], self._record_bytes), np.uint8)
        energy, dsum = self.engine.encode_blocks(x, self._signs[MODE_PRIMARY], self._thresholds, self._levels, _CUTS,
                                                 _SCALES, s.bits, s.residual == "sign", records)  # fmt: skip
        err = dsum / np.maximum(energy * n, 1.0)  # sum(y**2) = N·||x||² (Parseval)
        hard = np.flatnonzero((err > self._hard_mse) & (energy > 0))
        if not hard.size:
            return records, None
        return records, (records, hard, x[hard], energy[hard], err[hard])

    def recode(self, jobs: list) -> None:
        """Recode the hard blocks of :meth:`encode_primary` jobs (their records are patched)."""
        if not jobs:
            return
        xh = np.concatenate([j[2] for j in jobs]) if len(jobs) > 1 else jobs[0][2]
        eh = np.concatenate([j[3] for j in jobs]) if len(jobs) > 1 else jobs[0][3]
        best = np.concatenate([j[4] for j in jobs]) if len(jobs) > 1 else jobs[0][4].copy()
        k = self._scale_code(eh, MODE_PRIMARY)
        y, codes, _ = self.engine.analyze(xh, self._signs[MODE_PRIMARY], self._scale(k), self._thresholds, self._levels)
        mode = np.full(len(xh), MODE_PRIMARY)
        codes, y = np.array(codes, dtype=np.int16), np.asarray(y)
        limits = (MAX_SCALE_CODE - LOG_STEPS * 7, MAX_SCALE_CODE)
        ys = {MODE_PRIMARY: y}
        for alt in (MODE_FALLBACK, MODE_IDENTITY):
            ys[alt] = np.asarray(self._forward(xh, alt))
        sums = [np.einsum("ij,ij->i", ys[alt], ys[alt]) for alt in (MODE_FALLBACK, MODE_IDENTITY)]  # as _try's
        done = np.asarray(self.engine.try_modes(ys[MODE_FALLBACK], ys[MODE_IDENTITY], sums[0], sums[1], eh, best, mode,
                                                k, codes, self._thresholds, self._levels, _CUTS, _SCALES, limits))  # fmt: skip
        out = (mode, k, codes, None, None)
        rest = np.flatnonzero(~done)
        if rest.size == len(xh):  # the engine declined every block: the reference on the arrays as they are
            self._recode_hard(xh, y, eh, best, rest, mode, k, codes, None, None, ys=ys)
        elif rest.size:  # the reference, whole (with the coefficients computed above)
            self._recode_hard(xh[rest], y[rest], eh[rest], best[rest], rest, mode, k, codes, None, None,
                              ys={m: v[rest] for m, v in ys.items()})  # fmt: skip
        still = np.flatnonzero(done & (best > self._hard_mse))
        if still.size:  # the engine tried the other modes: the scale search remains
            self._search_scales({m: v[still] for m, v in ys.items()}, eh[still], best[still], still, out)
        packed = self._pack(mode, k, codes, None, None)
        lo = 0
        for records, hard, *_ in jobs:
            records[hard] = packed[lo : lo + hard.size]
            lo += hard.size

    def _recode_hard(self, x, y, energy, best, rows, mode, k, codes, z, ka, ys=None) -> None:
        """Search modes x scale offsets for blocks coded badly; update the outputs in place.

        Concentrated blocks (a Hadamard row, an impulse) rotate into a spike or into
        values of one magnitude; a different rotation, no rotation, or a scale that
        puts that magnitude on a reconstruction level fixes them.  The cheap tries
        come first (other modes at the nominal scale: they fix most blocks of real
        music that land here by chance); the full scale search only runs on the
        blocks still bad after them.
        """
        out = (mode, k, codes, z, ka)
        if ys is None:  # the blocks' coefficients in each mode
            ys = {m: self._forward(x, m) for m in (MODE_FALLBACK, MODE_IDENTITY)}
            ys[MODE_PRIMARY] = y
        for alt in (MODE_FALLBACK, MODE_IDENTITY):
            best = self._try(ys[alt], energy, alt, (0,), best, rows, out)
        self._search_scales(ys, energy, best, rows, out)

    def _search_scales(self, ys, energy, best, rows, out) -> None:
        """The second stage of :meth:`_recode_hard`: every mode at every other scale offset, for
        the blocks still bad after the other modes at the nominal scale."""
        still = best > self._hard_mse
        if still.any():
            sub = np.flatnonzero(still)
            sbest = best[sub]
            for alt in (MODE_PRIMARY, MODE_FALLBACK, MODE_IDENTITY):
                offs = [o for o in SCALE_SEARCH if o != 0]
                sbest = self._try(ys[alt][sub], energy[sub], alt, offs, sbest, rows[sub], out)

    def _try(self, ay, energy, alt, offsets, best, rows, out) -> np.ndarray:
        """Code blocks ``ay`` (coefficients in mode ``alt``) at each scale offset; keep wins.

        ``best`` holds each block's current error per unit energy; returns it updated.
        """
        mode, k, codes, z, ka = out
        h = rows.size
        offsets = np.asarray(offsets, dtype=np.int64)
        ay_energy = np.einsum("ij,ij->i", ay, ay)
        k0 = self._scale_code(energy, alt).astype(np.int64)
        limit = MAX_SCALE_CODE if alt == MODE_IDENTITY else MAX_SCALE_CODE - LOG_STEPS * 7
        # all (offset, block) pairs in one batch: row o*h + i is block i at offset o
        ak = np.clip(k0[None, :] + offsets[:, None], 1, limit).astype(np.uint16).reshape(-1)
        tiled = np.broadcast_to(ay, (offsets.size, h, ay.shape[1])).reshape(-1, ay.shape[1])
        ayhat, acodes, az, aka = self._quantize(tiled, ak)
        d = tiled - ayhat
        aerr = (np.einsum("ij,ij->i", d, d).reshape(offsets.size, h) / ay_energy).T  # (h, offsets)
        pick = np.argmin(aerr, axis=1)
        cand = aerr[np.arange(h), pick]
        win = cand < best
        if win.any():
            src = (pick * h + np.arange(h))[win]
            idx = rows[win]
            mode[idx], k[idx], codes[idx] = alt, ak[src], acodes[src]
            if z is not None:
                z[idx], ka[idx] = az[src], aka[src]
        return np.where(win, cand, best)

    def _pack(self, mode, k, codes, z, ka) -> np.ndarray:
        s = self.s
        out = np.empty((mode.size, s.record_bytes), np.uint8)
        side = (k.astype(np.uint16) | (mode.astype(np.uint16) << 12)).astype("<u2")
        out[:, 0:2] = side.view(np.uint8).reshape(-1, 2)
        pos = 2
        if s.residual == "qjl":
            out[:, 2:4] = ka.astype("<u2").view(np.uint8).reshape(-1, 2)
            pos = 4
        main = codes >> 1 if s.residual == "sign" else codes
        out[:, pos : pos + s.code_bytes] = bitpack.pack(main, s.bits)
        pos += s.code_bytes
        if s.residual == "sign":
            out[:, pos:] = bitpack.pack(codes & 1, 1)
        elif s.residual == "qjl":
            out[:, pos:] = np.packbits(z, axis=1)
        return out

    # -- decoding ----------------------------------------------------------------
    def _unpack_codes(self, records: np.ndarray) -> np.ndarray:
        """The cell indices of records (rows, record_bytes), residual bit included (sign)."""
        s = self.s
        pos = 4 if s.residual == "qjl" else 2
        codes = bitpack.unpack(records[:, pos : pos + s.code_bytes], s.bits, s.block_size)
        if s.residual == "sign":
            codes = (codes.astype(np.int16) << 1) | bitpack.unpack(records[:, pos + s.code_bytes :], 1, s.block_size)
        return codes

    def decode(self, records: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Records (rows, record_bytes) to grid blocks (rows, N) float64 (written into ``out``,
        a C-contiguous (rows, N) float64 array, if given).

        Raises :class:`BlockError` naming the first invalid block (row index).
        """
        s = self.s
        n = s.block_size
        side = records[:, 0:2].copy().view("<u2")[:, 0]
        mode = (side >> 12).astype(np.int64)
        k = side & 0x0FFF
        limit = np.where(mode == MODE_IDENTITY, MAX_SCALE_CODE, MAX_SCALE_CODE - LOG_STEPS * 7)
        bad = (mode > MODE_IDENTITY) | (k > limit)
        pos = 2
        if s.residual == "qjl":
            ka = records[:, 2:4].copy().view("<u2")[:, 0]
            bad |= ka > k + QJL_GAIN_SLACK
            pos = 4
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BlockError(i, f"invalid side info 0x{int(side[i]):04x} (reserved bits set or scale out of range)")
        if s.residual != "qjl":
            # Every row through the fused primary path (silent rows have scale 0 and come
            # out as exact zeros); the few rows in other modes are redone below.
            scale = _LEVELS[np.where(mode == MODE_SILENT, 0, k)]  # a silent block is exact zeros whatever else it holds
            if out is None:
                out = np.empty((records.shape[0], n))
            records = np.ascontiguousarray(records)
            self.engine.decode_blocks(records, scale, self._levels, self._signs[MODE_PRIMARY], s.bits,
                                      s.residual == "sign", out, mode, self._signs[MODE_FALLBACK])  # fmt: skip
            return out
        codes = self._unpack_codes(records)
        silent = mode == MODE_SILENT
        scale = np.where(silent, 0.0, log_value(k))  # a silent block is exact zeros whatever else it holds
        yhat = np.asarray(self.engine.dequantize(codes, scale, self._levels))
        z = np.unpackbits(records[:, pos + s.code_bytes :], axis=1, count=s.qjl_rows)
        yhat += self._qjl_correction(1.0 - 2.0 * (z == 0), np.where(silent, 0.0, log_value(ka)))
        # Keep the inverse Hadamard exact (every partial sum <= L1 norm < 2**52) even
        # for crafted gains; valid streams stay below 2**50.
        big = np.sum(np.abs(yhat), axis=1) >= 2.0**52
        if big.any():
            raise BlockError(int(np.flatnonzero(big)[0]), "QJL correction out of range")
        res = self._inverse(yhat, MODE_PRIMARY)
        other = np.flatnonzero((mode == MODE_FALLBACK) | (mode == MODE_IDENTITY))
        if other.size:
            self._inverse_modes(res, yhat[other], mode[other], other)
        if out is not None:
            out[...] = res
            return out
        return res

    def _inverse_modes(self, out: np.ndarray, yhat: np.ndarray, mode: np.ndarray, rows: np.ndarray) -> None:
        """Write the inverse of the non-primary rows ``rows`` (coefficients ``yhat``) into ``out``."""
        for m in (MODE_FALLBACK, MODE_IDENTITY):
            sel = mode == m
            if sel.any():
                out[rows[sel]] = self._inverse(yhat[sel], m)
