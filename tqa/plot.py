"""``tqa compare --plot``: what the coding error looks like (optional matplotlib).

One figure: the reference waveform with the error envelope, spectrograms of the
reference, the coded signal and their difference on one shared dB colour scale (the
difference is what the ear may hear), and the segmental SNR over time.  Stereo and
multichannel files are shown as a stated mono downmix (the mean of the channels);
the title names the files, the settings and the SQNR.
"""

from __future__ import annotations

import numpy as np

from . import metrics

__all__ = ["comparison_figure", "save_comparison", "PlotUnavailable"]


class PlotUnavailable(ImportError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'tqa[plot]'") from None
    return plt


def _spectrogram_db(x: np.ndarray, sr: int, nfft: int = 1024):
    from scipy.signal import spectrogram

    nfft = min(nfft, max(16, 1 << int(np.log2(max(16, x.size)))))
    f, t, s = spectrogram(x, fs=sr, nperseg=nfft, noverlap=nfft // 2, scaling="spectrum", mode="psd")
    return f, t, 10 * np.log10(np.maximum(s, 1e-20))


def comparison_figure(ref: np.ndarray, test: np.ndarray, sr: int, *, title: str = "", dynamic_range_db: float = 100.0):
    """A matplotlib Figure comparing ``ref`` and ``test`` (float, (n, channels))."""
    plt = _pyplot()
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1)
    test = np.asarray(test, np.float64).reshape(len(test), -1)
    channels = ref.shape[1]
    a, b = ref.mean(axis=1), test.mean(axis=1)
    mix = "mono" if channels == 1 else f"downmix: mean of {channels} channels"
    err = b - a
    t = np.arange(a.size) / sr
    fig, ax = plt.subplots(5, 1, figsize=(10, 14), constrained_layout=True)
    ax[0].plot(t, a, lw=0.5, label="reference")
    env = np.abs(test - ref).max(axis=1) if ref.size else np.zeros(0)
    ax[0].plot(t, env, color="r", lw=0.6, label="|error| (max over channels)")
    ax[0].set(title=f"waveform and error envelope ({mix})", xlabel="time (s)", ylabel="amplitude")
    ax[0].legend(loc="upper right")
    specs = [_spectrogram_db(x, sr) for x in (a, b, err)]
    top = max(float(s[2].max()) for s in specs)
    vmin, vmax = top - dynamic_range_db, top
    mesh = None
    for i, ((f, tt, s), name) in enumerate(zip(specs, ("reference", "coded", "difference (coded - reference)")), 1):
        mesh = ax[i].pcolormesh(tt, f, s, shading="auto", cmap="magma", vmin=vmin, vmax=vmax)
        ax[i].set(title=f"spectrogram: {name} ({mix})", xlabel="time (s)", ylabel="frequency (Hz)")
    fig.colorbar(mesh, ax=list(ax[1:4]), label="power (dB, shared scale)", shrink=0.9)
    _, seg = metrics.segmental_snr_db(ref, test, sr)
    ax[4].plot(np.arange(seg.size) * 0.02, seg, lw=0.7)
    ax[4].set(title="segmental SNR (20 ms segments)", xlabel="time (s)", ylabel="SNR (dB)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_comparison(ref, test, sr: int, fileobj, fmt: str = "png", *, title: str = "") -> None:
    """Draw :func:`comparison_figure` into ``fileobj`` (any matplotlib format)."""
    plt = _pyplot()
    fig = comparison_figure(ref, test, sr, title=title)
    try:
        fig.savefig(fileobj, format=fmt)
    finally:
        plt.close(fig)
