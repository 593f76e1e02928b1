"""Engine registry: engines named by string, one default, scoped overrides.

Modelled on ``scipy.fft``'s backend control: a dict of known engines and a context
variable holding the current choice.  ``set_engine(name)`` sets it and returns a
context manager that restores the previous choice on exit, so it works both as a
plain call and in a ``with`` block.
"""

from __future__ import annotations

import contextvars
import importlib

from tqa.backends.base import Engine

__all__ = ["engines", "set_engine", "get_engine", "AUTO"]

AUTO = "auto"
# name -> (module in tqa.backends, class); imported lazily so a missing optional
# dependency only disables its own engine.
_KNOWN = {
    "numpy": ("array_api", "ArrayAPIEngine"),
    "scipy": ("scipy_matmul", "ScipyEngine"),
    "tiled": ("tiled", "TiledEngine"),
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


# Batches of at least this many samples go to the tiled engine (measured with
# tools/bench_engines.py: below it the batch already fits in cache and tiling only
# adds per-tile overhead; above it tiled encodes ~20% faster).
TILED_FROM_SAMPLES = 1 << 21


class _Auto(Engine):
    """``engine=None``: the SciPy engine, or the tiled engine for large batches.

    Both give the same bits, so the choice can be made per call.
    """

    name = AUTO

    def _pick(self, a) -> Engine:
        return _load("tiled" if a.size >= TILED_FROM_SAMPLES else "scipy")

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


def auto_engine(samples: int) -> str:
    """The engine ``engine=None`` uses for a batch of ``samples`` samples."""
    return "tiled" if samples >= TILED_FROM_SAMPLES else "scipy"


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
