"""Compute threads: one per process by default, BLAS included.

The codec's kernels are small matrix products (the Kronecker-factored Hadamard
transform) and element-wise NumPy passes.  A BLAS pool of several threads gains
nothing on them, and on a machine whose other cores are busy (a second process, a
``tqa batch`` worker pool, a data loader) its threads spin waiting on each other:
measured on a 2-core machine with one other CPU-bound process, ``tqa encode`` of a
5-minute file took 5x the CPU time it takes with one BLAS thread (see
``tools/bench_speed.py --busy``).  Parallelism belongs to processes (``tqa batch``)
or to an explicit request, never to an implicit BLAS pool.

So every codec entry point runs inside :func:`limit` (a context manager) or a
function decorated with :func:`limited`, which caps the BLAS/OpenMP pools of this
process to ``threads()`` threads for the duration of the call and restores them
afterwards.

Opting in to more threads:

* ``threads=`` argument of :func:`limit` / :func:`limited` callers (``None``: the
  default below; an ``int`` >= 1: that many);
* the environment variable ``TQA_THREADS`` (an integer >= 1, or ``"auto"``/``"0"`` to
  leave the pools as they are: no limiting at all);
* without either, 1.

``threadpoolctl`` does the limiting: importing it and scanning the loaded libraries
costs ~5 ms once per process (the scan is redone only when modules were imported
since); entering and leaving :func:`limit` then costs ~20 µs, so it wraps every
chunk the codec works on (64 k samples), not just whole calls.

A process that tqa owns (the ``tqa`` command) calls :func:`preset` before NumPy loads: the
pools then *start* at ``threads()`` threads (``OPENBLAS_NUM_THREADS`` and its kin, unless the
user set one), and :func:`limit` of that count has nothing to do.  That spares a short
process threadpoolctl and OpenBLAS's start-up of a thread per core (measured on a loaded
2-core machine: ``import numpy`` 184 -> 148 ms CPU).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Callable, Iterator, TypeVar

__all__ = ["ENV", "threads", "limit", "limited", "tune_allocator"]

ENV = "TQA_THREADS"
_F = TypeVar("_F", bound=Callable)
_controller = None
_modules = 0
_depth = 0  # nesting depth of limit(): only the outermost call touches the pools
_preset: int | None = None  # the pools' size since their start (preset()), None: unknown
POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def threads(requested: int | None = None) -> int | None:
    """Threads a codec call may use: ``requested``, else ``$TQA_THREADS``, else 1.

    Returns ``None`` for "do not limit" (``TQA_THREADS=auto`` or ``0``, or
    ``requested=0``).  Raises ValueError for anything that is not a non-negative integer.
    """
    if requested is None:
        env = os.environ.get(ENV, "").strip().lower()
        if env in ("", "1"):
            return 1
        if env in ("auto", "0", "none"):
            return None
        try:
            requested = int(env)
        except ValueError:
            raise ValueError(f"{ENV} must be a positive integer or 'auto', got {env!r}") from None
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise ValueError(f"threads must be a non-negative integer (0: no limit), got {requested!r}")
    return requested or None


def _get_controller():
    """threadpoolctl's view of the loaded pools, rescanned when modules were imported since.

    A scan costs ~1 ms; importing SciPy (the spectral profile) loads a second OpenBLAS
    that an earlier scan would not know of.
    """
    global _controller, _modules
    if _controller is None or len(sys.modules) != _modules:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
        _modules = len(sys.modules)
    return _controller


def preset() -> int | None:
    """Start this process's BLAS/OpenMP pools at :func:`threads` threads: call it before NumPy
    (or SciPy, or any BLAS) is imported, in a process that tqa owns (the environment variables
    it sets are inherited by child processes, e.g. ``tqa batch`` workers).

    Does nothing (returns None) once NumPy is loaded, when ``TQA_THREADS`` asks for no limit
    or is invalid (the first codec call reports it), or when the user set any of
    ``POOL_VARIABLES``: :func:`limit` then caps the pools as usual.  Returns the count set.
    """
    global _preset
    if "numpy" in sys.modules or any(v in os.environ for v in POOL_VARIABLES):
        return None
    try:
        n = threads()
    except ValueError:
        return None
    if n is None:
        return None
    for v in POOL_VARIABLES:
        os.environ[v] = str(n)
    _preset = n
    return n


@contextlib.contextmanager
def limit(requested: int | None = None) -> Iterator[int | None]:
    """Cap BLAS/OpenMP pools at :func:`threads` (``requested``) threads inside the block.

    Re-entrant: nested uses (an API call inside another) leave the outer setting in
    place.  Yields the thread count in force (``None``: not limited).
    """
    global _depth
    n = threads(requested)
    if n is None or _depth or n == _preset:  # (the pools started at n threads: nothing to cap)
        _depth += 1
        try:
            yield n
        finally:
            _depth -= 1
        return
    try:
        ctl = _get_controller()
    except ImportError:  # threadpoolctl missing: nothing to limit with; the codec still works
        ctl = None
    _depth += 1
    try:
        if ctl is None:
            yield n
        else:
            with ctl.limit(limits=n):
                yield n
    finally:
        _depth -= 1


def limited(fn: _F) -> _F:
    """Decorator: run ``fn`` inside :func:`limit` (``threads=`` keyword, if given, is consumed)."""

    @functools.wraps(fn)
    def wrapper(*args, threads: int | None = None, **kwargs):
        with limit(threads):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this parameter on 64-bit
TRIM_THRESHOLD = 64 << 20


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Serve chunk-sized arrays from a heap that is not trimmed after every chunk (glibc ``mallopt``).

    The codec allocates arrays of 1-20 MB per chunk.  With glibc's defaults each one
    either comes from a fresh ``mmap`` or from heap that was trimmed back to the kernel
    after the previous chunk, and is faulted in page by page again: ~250,000 minor
    faults for `tqa encode` of a 5-minute file, ~280,000 for a spectral decode.  Raising
    the mmap threshold to 32 MiB and the trim threshold to 64 MiB keeps that memory
    mapped: measured (tools/bench_trees.py, loaded 2-core machine) time-profile encode
    1.82 -> 1.13 s CPU, spectral decode 3.16 -> 2.31 s, faults -> ~9,000-18,000, peak
    RSS unchanged, output identical.  The process keeps up to ``trim_threshold`` bytes
    of freed heap.  A process-wide setting, so a library must not make it behind its
    caller's back: call it once at the start of processes that tqa owns (the ``tqa``
    CLI, ``tqa batch`` workers).  Returns whether it was applied (False off glibc, or
    with ``TQA_MALLOC=default``).  Setting only M_TOP_PAD or only the trim threshold
    does not do it: either one switches off glibc's dynamic mmap threshold, and the
    spectral decoder's arrays then fault more, not less.
    """
    if os.environ.get("TQA_MALLOC", "").strip().lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        ok = libc.mallopt(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(int(mmap_threshold)))
        ok &= libc.mallopt(ctypes.c_int(_M_TRIM_THRESHOLD), ctypes.c_int(int(trim_threshold)))
        return bool(ok)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
