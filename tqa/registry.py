"""Engine registry: engines named by string, a global default, scoped overrides, plug-ins.

Modelled on ``scipy.fft``'s backend control and numcodecs' codec registry:

* a dict of factories (name -> callable returning an :class:`tqa.engine.Engine`), filled
  with the built-in engines, by :func:`register_engine`, and from the ``tqa.engines``
  entry-point group (a third-party package declares
  ``[project.entry-points."tqa.engines"] myengine = "mypkg:MyEngine"``);
* :func:`set_global_engine` sets the process-wide default;
* :func:`set_engine` overrides it in the current context (thread / task) – as a plain call
  until reset, or inside a ``with`` block only.

This module is the only importer of engine modules; a missing optional dependency only
disables its own engine.
"""

from __future__ import annotations

import contextvars
import importlib
import importlib.util
import pathlib
import sys
from typing import Callable

from .engine import Engine

__all__ = ["engines", "engine_names", "set_engine", "set_global_engine", "register_engine", "get_engine", "AUTO"]

AUTO = "auto"
ENTRY_POINT_GROUP = "tqa.engines"

# Built-in engines: name -> (module in tqa.backends, class).
_BUILTIN = {"numpy": ("numpy", "NumpyEngine"), "scipy": ("scipy", "ScipyEngine"), "tiled": ("tiled", "TiledEngine"),
            "numba": ("numba", "NumbaEngine")}  # numba: the optional extra tqa[fast]; ImportError without it
_factories: dict[str, Callable[[], Engine]] = {}
_instances: dict[str, Engine] = {}
_entry_points_loaded = False
_global = AUTO
_UNSET = object()
_current: contextvars.ContextVar = contextvars.ContextVar("tqa_engine", default=_UNSET)


def _backends_module(module: str):
    """Import ``tqa.backends.<module>`` in any install mode.

    Installed (wheel or editable), ``tqa.backends`` is a real subpackage.  Run from a
    checkout (``python -m pytest`` or ``python -c "import tqa"`` in the repository root, with
    a normal install elsewhere or none), ``tqa`` is the checkout's folder, which does not
    contain ``backends/``: the checkout's ``backends/`` beside it is then loaded as
    ``tqa.backends``.
    """
    if "tqa.backends" not in sys.modules and importlib.util.find_spec("tqa.backends") is None:
        root = pathlib.Path(__file__).resolve().parent.parent / "backends"
        spec = importlib.util.spec_from_file_location("tqa.backends", root / "__init__.py",
                                                      submodule_search_locations=[str(root)])  # fmt: skip
        if spec is None or not (root / "__init__.py").is_file():
            raise ImportError("tqa.backends is not installed and no backends/ folder is beside tqa/")
        pkg = importlib.util.module_from_spec(spec)
        sys.modules["tqa.backends"] = pkg
        spec.loader.exec_module(pkg)
    return importlib.import_module(f"tqa.backends.{module}")


def _builtin_factory(module: str, cls: str) -> Callable[[], Engine]:
    return lambda: getattr(_backends_module(module), cls)()


for _name, (_module, _cls) in _BUILTIN.items():
    _factories[_name] = _builtin_factory(_module, _cls)


def register_engine(name: str, factory: Callable[[], Engine], *, replace: bool = False) -> None:
    """Make ``factory()`` (an :class:`Engine`, built on first use) available as engine ``name``.

    Every engine must give the built-in engines' bits (tests/test_engines.py is the
    conformance suite to run it through).  ``replace=True`` overrides an existing name.
    """
    if not isinstance(name, str) or not name or name == AUTO:
        raise ValueError(f"engine name must be a non-empty string other than {AUTO!r}, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")
    if name in _factories and not replace:
        raise ValueError(f"engine {name!r} is already registered (pass replace=True to override)")
    _factories[name] = factory
    _instances.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _factories:
            _factories[ep.name] = ep.load


def _load(name: str) -> Engine:
    if name not in _instances:
        engine = _factories[name]()
        if not isinstance(engine, Engine):
            raise TypeError(f"engine {name!r}: its factory returned {engine!r}, not a tqa.engine.Engine")
        _instances[name] = engine
    return _instances[name]


def engine_names() -> list[str]:
    """Names of the registered engines, without loading any (``engines()`` checks they import:
    the numba engine's import alone costs ~0.3 s)."""
    _load_entry_points()
    return list(_factories)


def engines() -> list[str]:
    """Names of the engines that can be used here (their dependencies import)."""
    _load_entry_points()
    out = []
    for name in list(_factories):
        try:
            _load(name)
        except ImportError:
            continue
        out.append(name)
    return out


def _check(name: object) -> str:
    if isinstance(name, str) and name not in _factories and name != AUTO:
        _load_entry_points()
    if not isinstance(name, str) or (name != AUTO and name not in _factories):
        raise ValueError(f"unknown engine {name!r}; available engines: {', '.join(engines())} (or 'auto')")
    return name


# Measured with tools/bench_engines.py and whole `tqa` processes (README, "Engines"):
# on batches below this size the SciPy engine's kernels are ~10% faster than the
# tiled engine's (the batch already fits in cache, tiling only adds overhead); on
# larger ones the tiled engine is faster.  But importing scipy.linalg costs ~0.2 s,
# more than a 5-minute file's whole encode gains from it.
TILED_FROM_SAMPLES = 1 << 21


def auto_engine(samples: int) -> str:
    """The engine ``"auto"`` uses for a batch of ``samples`` samples.

    ``numba`` once it is loaded in this process (``tqa.set_global_engine("numba")`` or a
    first use: its ~0.7 s start-up is paid; ``tools/bench_engines.py --music --seconds 300
    --blocks 512 --engines tiled,numba`` measures 229-341 MB/s encode and 213-533 decode in
    process against tiled's 67-89 and 80-128), else ``scipy`` for batches below
    TILED_FROM_SAMPLES when SciPy's linalg is loaded already (its import is paid), else
    ``tiled``.  A one-shot command line never loads numba by itself.
    """
    if "numba" in _instances:
        return "numba"
    if samples < TILED_FROM_SAMPLES and "scipy.linalg" in sys.modules:
        return "scipy"
    return "tiled"


class _Auto(Engine):
    """``"auto"``: picks the engine per call by :func:`auto_engine` (every engine gives the same bits)."""

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

    def encode_blocks(self, x, signs, thresholds, levels, cuts, scales, bits, split, records):
        return self._pick(x).encode_blocks(x, signs, thresholds, levels, cuts, scales, bits, split, records)

    def decode_blocks(self, records, scale, levels, signs, bits, split, out, mode=None, fallback=None):
        return self._pick(out).decode_blocks(records, scale, levels, signs, bits, split, out, mode, fallback)

    def try_modes(self, y2, y3, sum2, sum3, energy, best, mode, k, codes, thresholds, levels, cuts, scales, limits):
        return self._pick(y2).try_modes(y2, y3, sum2, sum3, energy, best, mode, k, codes, thresholds, levels, cuts,
                                        scales, limits)  # fmt: skip

    def to_grid(self, x, out=None):
        return self._pick(x).to_grid(x, out)

    def from_grid(self, g, dtype, out=None):
        return self._pick(g).from_grid(g, dtype, out)


_AUTO = _Auto()


def current() -> str:
    """The engine name in force here: the scoped choice, else the global default."""
    name = _current.get()
    return _global if name is _UNSET else name


def get_engine(name: str | None = None) -> Engine:
    """Resolve ``name`` (None: the engine in force, see :func:`current`) to an engine instance."""
    name = _check(current() if name is None else name)
    if name == AUTO:
        return _AUTO
    try:
        return _load(name)
    except ImportError as exc:
        raise ValueError(f"engine {name!r} is not available here: {exc}") from None


def set_global_engine(name: str) -> None:
    """Make ``name`` the process-wide default engine (``"auto"`` restores the automatic choice)."""
    global _global
    _global = _check(name)


class set_engine:
    """Use engine ``name`` in the current context: inside a ``with`` block, or until reset.

    >>> with tqa.set_engine("tiled"):
    ...     data = tqa.encode(x, 44100)
    """

    def __init__(self, name: str) -> None:
        self._token = _current.set(_check(name))

    def __enter__(self) -> "set_engine":
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
