"""The compiled engine's light entry point: availability, factory and auto-choice rule.

Importing this module does not import numba (~0.25-0.5 s); :func:`make_engine` does.
For the registry::

    from tqa.backends import compiled
    if compiled.available():
        register_engine("numba", compiled.make_engine)
    # engine=None: prefer "numba" where compiled.pays_for(samples, long_lived=...) is True

The rule comes from ``tools/bench_engines.py --first-call`` (what a fresh process pays
before the engine gains) and the in-process MB/s of the tiled and numba engines
measured in the same loop (README, "Engines").
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["available", "make_engine", "pays_for", "AUTO_MIN_SAMPLES"]

# Break-even work for one process (tools/bench_engines.py, CPU seconds, this 2-core
# machine under load): a fresh process pays ~0.69 s for the compiled engine (import
# numba 0.24 s; first calls 0.43 s, most of it numba's own start-up importing
# scipy.linalg, even with the machine code cached on disk) and then gains, against
# the tiled engine, ~6.7 ms per MB of int16 PCM encoded (65 -> 115 MB/s) and ~2.9 ms
# per MB decoded (100 -> 140 MB/s).  Break-even: ~100 MB encoded (~10 minutes of
# stereo 44.1 kHz) or ~240 MB decoded (~20 minutes) in one process.
AUTO_MIN_SAMPLES = {"encode": 10 * 60 * 44100 * 2, "decode": 20 * 60 * 44100 * 2}


def available() -> bool:
    """Whether numba is installed (the ``tqa[fast]`` extra); does not import it."""
    return "numba" in sys.modules or importlib.util.find_spec("numba") is not None


def make_engine():
    """A new :class:`tqa.backends.numba_engine.NumbaEngine` (ImportError without numba)."""
    from .numba_engine import NumbaEngine

    return NumbaEngine()


def pays_for(samples: int, *, long_lived: bool = False, op: str = "encode") -> bool:
    """Whether ``engine=None`` should pick the compiled engine for a call of ``samples`` samples.

    True when numba is available and one of: the compiled engine is loaded already in
    this process (its start-up is paid); the caller is long-lived (``tqa batch``
    workers, the numcodecs/zarr codec, data-loader helpers: they code many chunks);
    or this single call has at least ``AUTO_MIN_SAMPLES[op]`` samples (all channels;
    ``op`` is "encode" or "decode").  Never for a one-shot CLI call on an ordinary
    file: it would pay ~0.7 s of CPU (~1.8 s wall here) of start-up.
    """
    if "tqa.backends.numba_engine" in sys.modules:
        return True
    if not available():
        return False
    return long_lived or samples >= AUTO_MIN_SAMPLES[op]
