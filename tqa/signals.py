"""Synthetic test signals: the ``tqa sim`` generators and an adversarial set.

Deterministic (seeded) so that a signal named on the command line or in a test is
always the same.
"""

from __future__ import annotations

import numpy as np

from .rotation import Rotation
from .vocab import SIGNAL_TYPES

__all__ = ["SIGNAL_TYPES", "generate", "hadamard_blocks", "adversarial", "demo_signal", "MAX_SAMPLES"]

# ``generate`` holds the whole signal in memory (float64 while it is built): 2**27
# samples is 1 GiB of float64, 51 minutes at 44.1 kHz.
MAX_SAMPLES = 2**27


def hadamard_blocks(
    block_size: int, seed: int = 0, amplitude: float = 0.25, rows: np.ndarray | None = None
) -> np.ndarray:
    """Blocks ``amplitude * D·h_k`` for every k (or the given ``rows``): the primary
    rotation turns each into one spike (audiotq's documented failure, ~1.3 dB SQNR)."""
    from scipy.linalg import hadamard

    d = Rotation(block_size, seed).signs
    h = hadamard(block_size)
    if rows is not None:
        h = h[rows]
    return (amplitude * d[None, :] * h).reshape(-1)


def generate(
    kind: str = "sine",
    frequency: float = 440.0,
    duration: float = 2.0,
    spikes: int = 3,
    amplitude: float = 0.1,
    sample_rate: int = 8000,
    seed: int = 42,
    block_size: int = 512,
) -> np.ndarray:
    """A float32 test signal, as audiotq's ``tqa-sim`` made (plus chirp and hadamard)."""
    if kind not in SIGNAL_TYPES:
        raise ValueError(f"unknown signal type {kind!r}; choose one of {', '.join(SIGNAL_TYPES)}")
    n = duration * sample_rate
    if not np.isfinite(n) or n > MAX_SAMPLES:
        raise ValueError(f"{duration} s at {sample_rate} Hz is {n:.4g} samples; at most {MAX_SAMPLES} (2**27) are generated")
    n = int(round(n))
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    if kind == "sine":
        x = amplitude * np.sin(2 * np.pi * frequency * t)
    elif kind == "square":
        x = amplitude * np.sign(np.sin(2 * np.pi * frequency * t))
    elif kind == "noise":
        x = rng.normal(0.0, amplitude, n)
    elif kind == "transient":
        x = rng.normal(0.0, 0.01 * amplitude, n)
    elif kind == "chirp":
        from scipy.signal import chirp

        x = amplitude * chirp(t, f0=frequency, t1=max(duration, 1e-9), f1=min(8 * frequency, sample_rate / 2))
    else:
        x = np.resize(hadamard_blocks(block_size, amplitude=amplitude), n)
    if spikes > 0 and n > 0:
        idx = rng.choice(n, size=min(spikes, n), replace=False)
        x[idx] = rng.choice([-0.98, 0.98], size=idx.size)
    return x.astype(np.float32)


def adversarial(block_size: int = 512, sample_rate: int = 8000) -> dict[str, np.ndarray]:
    """Signals that stress a rotation codec, each a few blocks long (float64)."""
    n = block_size
    rng = np.random.default_rng(1234)
    t = np.arange(4 * n) / sample_rate
    impulse = np.zeros(4 * n)
    impulse[n // 3] = 0.9
    train = np.zeros(4 * n)
    train[::97] = -0.7
    return {
        "silence": np.zeros(3 * n),
        "dc": np.full(3 * n, 0.3),
        "square": np.sign(np.sin(2 * np.pi * 440 * t)) * 0.999,
        "impulse": impulse,
        "impulse_train": train,
        "hadamard": hadamard_blocks(n, rows=rng.choice(n, 6, replace=False)),
        "noise": rng.normal(0, 0.2, 4 * n),
        "clipped": np.clip(rng.normal(0, 2.0, 4 * n), -1, 1),
        "headroom": rng.normal(0, 4.0, 4 * n).clip(-16, 16),
        "sine": 0.5 * np.sin(2 * np.pi * 1000 * t),
    }


def demo_signal(sr: int = 44100, seconds: float = 6.0) -> np.ndarray:
    """A built-in stereo test piece (``tqa demo``): chords, a bass line, hi-hat noise and kick transients."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    rng = np.random.default_rng(2026)
    x = np.zeros((n, 2))
    for i, f in enumerate((220.0, 277.18, 329.63, 440.0)):
        x[:, i % 2] += 0.08 * np.sin(2 * np.pi * f * t + i) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
    x += (0.12 * np.sin(2 * np.pi * 55 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2)[:, None]
    beat = (t % 0.5) < 0.06
    kick = np.sin(2 * np.pi * 60 * (t % 0.5) * (1 - 4 * (t % 0.5))) * np.exp(-(t % 0.5) * 40)
    x += 0.3 * (kick * beat)[:, None]
    hat = rng.normal(0, 1, (n, 2)) * np.exp(-((t + 0.25) % 0.25) * 80)[:, None]
    x += 0.03 * hat
    return x.astype(np.float32)
