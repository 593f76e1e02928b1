"""MDCT with a sine window and time-domain aliasing cancellation (TDAC).

Frames of 2N samples hop by N and give N coefficients each, computed as a DCT-IV
(scipy.fft, orthonormal) of the windowed frame folded to N samples.  With the sine
window (Princen–Bradley: w[n]² + w[n+N]² = 1) overlap-adding the inverse transforms
reconstructs the input exactly up to rounding.

The signal is padded with N zeros in front and up to a whole hop plus N behind, so
frame f covers samples (f-1)·N .. (f+1)·N of the original and exactly n samples come
back from :func:`inverse`.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["forward", "inverse", "inverse_range", "n_frames", "window"]


@functools.lru_cache(maxsize=8)
def window(n: int) -> np.ndarray:
    """The sine window of length 2n."""
    w = np.sin(np.pi / (2 * n) * (np.arange(2 * n) + 0.5))
    w.flags.writeable = False
    return w


def n_frames(samples: int, n: int) -> int:
    """MDCT frames covering ``samples`` samples at hop ``n`` (with the padding above)."""
    return -(-samples // n) + 1


def _dct4(x: np.ndarray) -> np.ndarray:
    from scipy.fft import dct  # lazy: only the spectral profile needs it

    return dct(x, type=4, norm="ortho", axis=-1)


def forward(x: np.ndarray, n: int) -> np.ndarray:
    """MDCT of a (samples,) or (samples, channels) signal: (channels, frames, n)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    samples, channels = x.shape
    frames = n_frames(samples, n)
    padded = np.zeros((channels, (frames + 1) * n))
    padded[:, n : n + samples] = x.T
    return frames_of(padded, n)


def frames_of(padded: np.ndarray, n: int) -> np.ndarray:
    """MDCT frames of consecutive hops (channels, (F+1)·n) of the padded signal: (channels, F, n).

    A streaming encoder hands in any run of hops (with one hop of overlap between runs).
    """
    channels = padded.shape[0]
    frames = padded.shape[1] // n - 1
    # Frame f is hops f and f+1; its quarters a, b (hop f) and c, d (hop f+1) are
    # windowed and folded to N samples, (-c_r - d, a - b_r), without building the
    # 2N-sample frames (views of the hops, written into one output).
    hops = padded.reshape(channels, frames + 1, n)
    h = n // 2
    w = window(n)
    folded = np.empty((channels, frames, n))
    lo, hi = folded[..., :h], folded[..., h:]
    np.multiply(hops[:, 1:, :h], w[n : n + h], out=lo)
    lo[...] = lo[..., ::-1]
    lo += hops[:, 1:, h:] * w[n + h :]
    np.negative(lo, out=lo)
    np.multiply(hops[:, :frames, h:], w[h:n], out=hi)
    hi[...] = hi[..., ::-1]
    np.negative(hi, out=hi)
    hi += hops[:, :frames, :h] * w[:h]
    return _dct4(folded)


def inverse(coeffs: np.ndarray, samples: int) -> np.ndarray:
    """Inverse of :func:`forward`: (channels, frames, n) coefficients to (samples, channels)."""
    return inverse_range(coeffs, 0)[:samples]


def inverse_range(coeffs: np.ndarray, first: int) -> np.ndarray:
    """Overlap-add frames first..first+F-1 alone: the samples they complete.

    Frame f covers samples (f-1)·N .. (f+1)·N, so these frames fully determine
    samples first·N .. (first+F-1)·N, returned as (samples, channels).
    """
    channels, frames, n = coeffs.shape
    h = n // 2
    w = window(n)
    u = _dct4(coeffs)
    u1, u2 = u[..., :h], u[..., h:]
    # unfolded frame: (u2, -u2_r, -u1_r, -u1) times the window; its first half lands
    # on hop f, its second half on hop f+1
    out = np.zeros((channels, frames + 1, n))
    out[:, :frames, :h] += u2 * w[:h]
    out[:, :frames, h:] -= u2[..., ::-1] * w[h:n]
    out[:, 1:, :h] -= u1[..., ::-1] * w[n : n + h]
    out[:, 1:, h:] -= u1 * w[n + h :]
    return out[:, 1:frames].reshape(channels, (frames - 1) * n).T
