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
    # frames[c, f] = padded[c, f*n : f*n + 2n]: a strided view, windowed into a copy
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * n, axis=1)[:, ::n][:, :frames]
    z = view * window(n)
    h = n // 2
    a, b, c, d = z[..., :h], z[..., h:n], z[..., n : n + h], z[..., n + h :]
    folded = np.concatenate((-c[..., ::-1] - d, a - b[..., ::-1]), axis=-1)
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
    u = _dct4(coeffs)
    u1, u2 = u[..., :h], u[..., h:]
    z = np.concatenate((u2, -u2[..., ::-1], -u1[..., ::-1], -u1), axis=-1) * window(n)
    out = np.zeros((channels, (frames + 1) * n))
    out[:, : frames * n] += z[..., :n].reshape(channels, frames * n)
    out[:, n : (frames + 1) * n] += z[..., n:].reshape(channels, frames * n)
    return out[:, n : frames * n].T
