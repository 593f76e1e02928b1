"""Engine registry: engines named by string, one default, scoped overrides.

Modelled on ``scipy.fft``'s backend control: a dict of known engines and a context
variable holding the current choice.  ``set_engine(name)`` sets it and returns a
context manager that restores the previous choice on exit, so it works both as a
plain call and in a ``with`` block.
"""

from __future__ import annotations

import contextvars
import importlib
import sys

from tqa.backends.base import Engine

__all__ = ["engines", "set_engine", "get_engine", "AUTO"]

AUTO = "auto"
# name -> (module in tqa.backends, class); imported lazily so a missing optional
# dependency only disables its own engine.
_KNOWN = {
    "numpy": ("array_api", "ArrayAPIEngine"),
    "scipy": ("scipy_matmul", "ScipyEngine"),
    "tiled": ("tiled", "TiledEngine"),
    "numba": ("numba_engine", "NumbaEngine"),  # optional extra tqa[fast]; ImportError without numba
}
_instances: dict[str, Engine] = {}
_current: contextvars.ContextVar[str] = contextvars.ContextVar("tqa_engine", default=AUTO)


def engines() -> list[str]:
    """Names of the engines that can be used here."""
    out = []
    for name in _KNOWN:
        try:
            _load(name)
        except ImportError:
            continue
        out.append(name)
    return out


def _load(name: str) -> Engine:
    if name not in _instances:
        module, cls = _KNOWN[name]
        _instances[name] = getattr(importlib.import_module(f"tqa.backends.{module}"), cls)()
    return _instances[name]


def _check(name: object) -> str:
    if not isinstance(name, str) or (name != AUTO and name not in _KNOWN):
        raise ValueError(f"unknown engine {name!r}; available engines: {', '.join(engines())} (or 'auto')")
    return name


# Measured with tools/bench_engines.py and whole `tqa` processes (README, "Engines"):
# on batches below this size the SciPy engine's kernels are ~10% faster than the
# tiled engine's (the batch already fits in cache, tiling only adds overhead); on
# larger ones the tiled engine is faster.  But importing scipy.linalg costs ~0.2 s,
# more than a 5-minute file's whole encode gains from it.
TILED_FROM_SAMPLES = 1 << 21


def auto_engine(samples: int) -> str:
    """The engine ``engine=None`` uses for a batch of ``samples`` samples.

    ``scipy`` for batches below TILED_FROM_SAMPLES when SciPy's linalg is loaded
    already (a warm process: its import is paid), else ``tiled``.
    """
    if samples < TILED_FROM_SAMPLES and "scipy.linalg" in sys.modules:
        return "scipy"
    return "tiled"


class _Auto(Engine):
    """``engine=None``: picks the engine per call by :func:`auto_engine`.

    Every engine gives the same bits, so the choice can be made per batch.
    """

    name = AUTO

    def _pick(self, a) -> Engine:
        return _load(auto_engine(a.size))

    def rotate(self, x, signs):
        return self._pick(x).rotate(x, signs)

    def unrotate(self, y, signs):
        return self._pick(y).unrotate(y, signs)

    def quantize(self, y, scale, thresholds):
        return self._pick(y).quantize(y, scale, thresholds)

    def dequantize(self, codes, scale, levels):
        return self._pick(codes).dequantize(codes, scale, levels)

    def analyze(self, x, signs, scale, thresholds, levels):
        return self._pick(x).analyze(x, signs, scale, thresholds, levels)

    def synthesize(self, codes, scale, levels, signs):
        return self._pick(codes).synthesize(codes, scale, levels, signs)


def get_engine(name: str | None = None) -> Engine:
    """Resolve ``name`` (None: the current default) to an engine instance."""
    name = _check(_current.get() if name is None else name)
    if name == AUTO:
        return _AUTO
    try:
        return _load(name)
    except ImportError as exc:
        raise ValueError(f"engine {name!r} is not available here: {exc}") from None


_AUTO = _Auto()


class set_engine:
    """Make ``name`` the default engine; as a context manager, only inside the block.

    >>> with tqa.set_engine("tiled"):
    ...     data = tqa.encode(x, 44100)
    """

    def __init__(self, name: str) -> None:
        self._token = _current.set(_check(name))

    def __enter__(self) -> "set_engine":
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
