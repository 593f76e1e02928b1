"""Fidelity metrics between a reference signal and a coded one.

All functions take arrays of shape (n,) or (n, channels); lengths must already be
aligned.  SQNR and segmental SNR are in dB; ``inf`` means no error at all.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sqnr_db", "sqnr_per_channel", "segmental_snr_db", "compare", "SNRMeter"]


def _2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _ratio_db(sig: np.ndarray, err: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10 * np.log10(sig / err)
    return np.where(err == 0, np.inf, np.where(sig == 0, -np.inf, out))


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    r, t = _2d(ref), _2d(test)
    return float(_ratio_db(np.sum(r**2), np.sum((r - t) ** 2)))


def sqnr_per_channel(ref: np.ndarray, test: np.ndarray) -> list[float]:
    r, t = _2d(ref), _2d(test)
    return [float(v) for v in _ratio_db(np.sum(r**2, axis=0), np.sum((r - t) ** 2, axis=0))]


def segmental_snr_db(ref: np.ndarray, test: np.ndarray, sample_rate: int, segment_s: float = 0.02) -> tuple[float, np.ndarray]:
    """Mean over 20 ms segments of the SNR clipped to [-10, 60] dB (silent segments skipped).

    Returns (mean, per-segment values) – the same convention as the corpus's
    reference_codecs.md.
    """
    r, t = _2d(ref), _2d(test)
    seg = max(1, int(round(segment_s * sample_rate)))
    m = r.shape[0] // seg * seg
    if m == 0:
        return float("nan"), np.zeros(0)
    sig = np.sum(r[:m].reshape(-1, seg, r.shape[1]) ** 2, axis=(1, 2))
    err = np.sum((r[:m] - t[:m]).reshape(-1, seg, r.shape[1]) ** 2, axis=(1, 2))
    vals = np.clip(_ratio_db(sig, err), -10, 60)
    live = sig > 0
    return (float(np.mean(vals[live])) if live.any() else float("nan")), np.where(live, vals, np.nan)


def _envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS envelope in 10 ms windows of the channel mean."""
    w = max(1, sample_rate // 100)
    m = x.shape[0] // w * w
    return np.sqrt(np.mean(x[:m].reshape(-1, w, x.shape[1]) ** 2, axis=(1, 2)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


def _stft_power(x: np.ndarray, nperseg: int) -> np.ndarray:
    """|STFT|^2 (frequencies, frames) of 1-D ``x``, the same figures as ``scipy.signal.stft``'s defaults.

    Periodic Hann window, 50 % overlap, ``nperseg//2`` zeros either side (boundary="zeros"),
    zero-padded to whole segments (padded=True), scaled by 1 / sum(window) (scaling="spectrum").
    NumPy only: ``tqa compare`` and ``tqa run`` do not import scipy.signal for it.
    """
    step = nperseg - nperseg // 2
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)
    x = np.concatenate([np.zeros(nperseg // 2), np.asarray(x, dtype=np.float64), np.zeros(nperseg // 2)])
    extra = -(len(x) - nperseg) % step
    if extra:
        x = np.concatenate([x, np.zeros(extra)])
    frames = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::step]
    spec = np.fft.rfft(frames * win, axis=1) / win.sum()
    return (spec.real**2 + spec.imag**2).T


def log_spectral_distance_db(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> float:
    """RMS over frequency (then mean over 2048-sample frames) of the log power-spectrum difference."""
    r, t = _2d(ref), _2d(test)
    nper = min(2048, max(16, r.shape[0]))
    if r.shape[0] < 16:
        return float("nan")
    pr = _stft_power(r.mean(axis=1), nper)
    pt = _stft_power(t.mean(axis=1), nper)
    eps = 1e-12
    d = 10 * np.log10((pr + eps) / (pt + eps))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


def compare(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> dict:
    """All metrics of ``tqa compare`` as a JSON-ready dict."""
    r, t = _2d(ref), _2d(test)
    seg_mean, _ = segmental_snr_db(r, t, sample_rate)
    env_r, env_t = _envelope(r, sample_rate), _envelope(t, sample_rate)
    return {
        "frames": int(r.shape[0]),
        "channels": int(r.shape[1]),
        "mse": float(np.mean((r - t) ** 2)) if r.size else 0.0,
        "sqnr_db": sqnr_db(r, t),
        "sqnr_db_per_channel": sqnr_per_channel(r, t),
        "segmental_snr_db": seg_mean,
        "correlation": _corr(r, t),
        "peak_delta": float(np.max(np.abs(r - t))) if r.size else 0.0,
        "envelope_correlation": _corr(env_r, env_t) if env_r.size > 1 else float("nan"),
        "log_spectral_distance_db": log_spectral_distance_db(r, t, sample_rate),
    }


class SNRMeter:
    """Per-channel signal and error energy accumulated over chunks (streaming SQNR)."""

    def __init__(self, channels: int) -> None:
        self.sig = np.zeros(channels)
        self.err = np.zeros(channels)

    def update(self, ref: np.ndarray, test: np.ndarray) -> None:
        r, t = _2d(ref), _2d(test)
        self.sig += np.sum(r**2, axis=0)
        self.err += np.sum((r - t) ** 2, axis=0)

    @property
    def sqnr_db(self) -> float:
        return float(_ratio_db(self.sig.sum(), self.err.sum()))

    @property
    def per_channel(self) -> list[float]:
        return [float(v) for v in _ratio_db(self.sig, self.err)]
