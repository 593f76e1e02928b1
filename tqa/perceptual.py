"""Perceptual metrics: Zimtohrli distance and ViSQOL v3 MOS-LQO (optional extra).

    pip install 'tqa[perceptual]'      # zimtohrli, visqol-python

Both metrics model the ear, unlike SQNR, and both work at 48 kHz: inputs at any
other rate are resampled first with ``scipy.signal.resample_poly`` (exact ratio
``48000 / sample_rate`` reduced by their gcd).  Nothing heavy is imported until a
metric is called: ``import tqa.perceptual`` costs nothing.

**Zimtohrli** (Google, ``zimtohrli`` on PyPI): a psychoacoustic distance between
two signals (gammatone-like filter bank, masking, loudness in phons, then a
neurogram similarity).  0 means identical; **lower is better**.  The library's own
mapping to a mean opinion score (``zimtohrli.mos_from_zimtohrli``) reads 0.0001 ->
4.98, 0.001 -> 4.80, 0.003 -> 4.43, 0.01 -> 3.40, 0.03 -> 1.87, 0.1 -> 1.02; on the
development corpus WavPack ``-b3`` scores ~0.0005 and LC3 at 3 bits/sample ~0.00002
(docs/perceptual.md has the table).  It is a mono metric: a multichannel
signal is scored per channel and the **worst (largest) channel** is reported.
Needs at least ``ZIMTOHRLI_MIN_SECONDS`` of audio (the C++ library corrupts its
heap on shorter input, so this module refuses it first).

**ViSQOL v3** (``visqol-python``, the Python port of Google's ViSQOL), *audio
mode* (the SVR model trained on 48 kHz music): MOS-LQO, a predicted mean opinion
score from **1 (bad) to 5 (excellent)**; **higher is better**.  In audio mode a
perfect copy scores about 4.73, not 5 (the model's ceiling).  Multichannel input
is mixed to mono first, as ViSQOL itself does with multichannel files.  Needs at
least ``VISQOL_MIN_SECONDS`` of audio (its patches are 30 frames of ~20 ms).

Both take arrays shaped (n,) or (n, channels) of floats at full scale 1.0, the
reference first; lengths must already be aligned (the shorter length is used).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "HINT",
    "PerceptualUnavailable",
    "TooShort",
    "available",
    "to_48k",
    "zimtohrli_distance",
    "visqol_mos",
    "measure",
]

HINT = "install tqa[perceptual] for Zimtohrli and ViSQOL"
RATE = 48000
ZIMTOHRLI_MIN_SECONDS = 0.1
VISQOL_MIN_SECONDS = 1.0


class PerceptualUnavailable(ImportError):
    """The ``perceptual`` extra (zimtohrli, visqol-python) is not installed."""


class TooShort(ValueError):
    """The signals are too short for the metric."""


def _import_zimtohrli():
    try:
        import zimtohrli
    except ImportError as exc:
        raise PerceptualUnavailable(f"zimtohrli is not installed ({HINT})") from exc
    return zimtohrli


def _import_visqol():
    try:
        from visqol import VisqolApi
    except ImportError as exc:
        raise PerceptualUnavailable(f"visqol-python is not installed ({HINT})") from exc
    return VisqolApi


def available() -> list[str]:
    """Names of the installed metrics: a subset of ["zimtohrli", "visqol"] (imports them)."""
    out = []
    for name, imp in (("zimtohrli", _import_zimtohrli), ("visqol", _import_visqol)):
        try:
            imp()
        except PerceptualUnavailable:
            continue
        out.append(name)
    return out


def _2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected an array shaped (n,) or (n, channels), got shape {x.shape}")
    return x


def _pair(ref, test) -> tuple[np.ndarray, np.ndarray]:
    r, t = _2d(ref), _2d(test)
    if r.shape[1] != t.shape[1]:
        raise ValueError(f"channel counts differ: {r.shape[1]} and {t.shape[1]}")
    n = min(len(r), len(t))
    return r[:n], t[:n]


def to_48k(x, sample_rate: int) -> np.ndarray:
    """``x`` (n, channels) resampled to 48 kHz with ``scipy.signal.resample_poly`` (a copy as float64)."""
    x = _2d(x)
    sample_rate = int(sample_rate)
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    if sample_rate == RATE:
        return x.copy()
    from scipy.signal import resample_poly

    g = math.gcd(RATE, sample_rate)
    return resample_poly(x, RATE // g, sample_rate // g, axis=0)


def _check_length(n: int, sample_rate: int, need: float, what: str) -> None:
    if n < need * sample_rate:
        raise TooShort(f"{what} needs at least {need:g} s of audio; got {n / sample_rate:.3f} s, {n} frames at {sample_rate} Hz")


def zimtohrli_distance(ref, test, sample_rate: int) -> float:
    """Zimtohrli distance (0 = identical, lower is better), worst channel; resampled to 48 kHz."""
    r, t = _pair(ref, test)
    _check_length(len(r), sample_rate, ZIMTOHRLI_MIN_SECONDS, "Zimtohrli")
    z = _import_zimtohrli()
    r48, t48 = to_48k(r, sample_rate), to_48k(t, sample_rate)
    metric = z.Pyohrli()
    return float(max(metric.distance(r48[:, c], t48[:, c]) for c in range(r48.shape[1])))


def visqol_mos(ref, test, sample_rate: int) -> float:
    """ViSQOL v3 MOS-LQO, audio mode (1..5, higher is better; ~4.73 for a perfect copy); mono mix at 48 kHz."""
    r, t = _pair(ref, test)
    _check_length(len(r), sample_rate, VISQOL_MIN_SECONDS, "ViSQOL")
    api_cls = _import_visqol()
    r48, t48 = to_48k(r.mean(axis=1), sample_rate)[:, 0], to_48k(t.mean(axis=1), sample_rate)[:, 0]
    if not np.any(r48):
        raise ValueError("ViSQOL is undefined for a silent reference")
    import logging

    log = logging.getLogger("visqol")
    level = log.level
    log.setLevel(logging.ERROR)  # its duration / rate warnings do not apply here
    try:
        api = api_cls()
        api.create(mode="audio")
        return float(api.measure_from_arrays(r48, t48, RATE).moslqo)
    finally:
        log.setLevel(level)


def measure(ref, test, sample_rate: int) -> dict:
    """Both metrics as a JSON-ready dict; a metric that cannot be computed is None with a reason.

    Keys: ``zimtohrli_distance``, ``visqol_mos_lqo`` (float or None) and ``perceptual_notes``
    (list of str: why a value is None, e.g. the extra is missing or the input too short).
    """
    out: dict = {"zimtohrli_distance": None, "visqol_mos_lqo": None, "perceptual_notes": []}
    missing = False
    for key, fn in (("zimtohrli_distance", zimtohrli_distance), ("visqol_mos_lqo", visqol_mos)):
        try:
            v = fn(ref, test, sample_rate)
        except PerceptualUnavailable:
            missing = True
            continue
        except (ValueError, RuntimeError) as exc:  # TooShort, silent reference, the library's own checks
            out["perceptual_notes"].append(f"{key}: {exc}")
            continue
        out[key] = v if math.isfinite(v) else None
    if missing:
        out["perceptual_notes"].insert(0, HINT)
    return out
