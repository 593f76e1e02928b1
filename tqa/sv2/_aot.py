"""The sv2 encoder's compiled loops (:mod:`tqa.sv2._jitenc`) and the decoder's
(:mod:`tqa.sv2._jit`'s unpack_frames, synthesize) ahead of time: the same numba code
compiled once (numba.pycc) into an extension module in a cache folder, so that later processes
load machine code without importing numba (~0.4 s) or initializing its JIT (~0.5 s): what a
one-shot ``tqa encode`` pays otherwise.

:func:`load` returns the module, or None (no numba, not built yet, a build failed, or
``TQA_SV2_AOT=0``): the caller then uses the JIT versions.  The first process that finds it
missing starts its build in a detached child (~12 s of CPU once; ``python -m tqa.sv2._aot``
builds it in the foreground).  The module's name carries a hash of those two modules' sources and of
the numba, NumPy and Python versions: a change to any of them builds a new one.  The values are
those of the JIT functions (the same LLVM code without fastmath); tests compare both with NumPy.

Cache folder: ``TQA_CACHE_DIR``, else ``$XDG_CACHE_HOME/tqa`` (``~/.cache/tqa``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

try:  # CPython's own SHA-256 (3.11: _sha256, 3.12+: _sha2): hashlib's import loads OpenSSL (~13 ms a process)
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other versions
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

# argument types of the exported functions (the callers in tqa.sv2.codec pass exactly these)
F8_1, F8_2, F8_3, F8_4 = "f8[::1]", "f8[:, ::1]", "f8[:, :, ::1]", "f8[:, :, :, ::1]"
I8_1, I8_2, I8_3 = "i8[::1]", "i8[:, ::1]", "i8[:, :, ::1]"
B1_1, B1_3 = "b1[::1]", "b1[:, :, ::1]"
SIGNATURES = {
    "fold_frames": f"void({F8_3}, {B1_1}, {I8_1}, {I8_1}, {F8_3}, {F8_3}, {I8_1}, {F8_3}, {F8_4})",
    "fold_block": f"void({F8_2}, {B1_1}, {I8_1}, {I8_1}, {F8_3}, {F8_3}, {I8_1}, {F8_3}, {F8_4})",
    "fold_block16": f"void(i2[:, ::1], {B1_1}, {I8_1}, {I8_1}, {F8_3}, {F8_3}, {I8_1}, {F8_3}, {F8_4})",
    "ms_energies": f"void({F8_3}, {F8_3}, {F8_3}, {F8_3}, f8)",
    "band_energies": f"void({F8_2}, {F8_2})",
    "quantize": f"void({F8_3}, {F8_3}, {B1_1}, {I8_2}, {F8_1}, f8, f8, b1, f8, {I8_3}, {F8_3}, {F8_3}, {F8_3})",
    "counts": f"i8({I8_3}, {F8_3}, {I8_2}, {I8_1}, i8, {I8_2}, {I8_2}, {I8_1}, {F8_1}, b1)",
    "pack": f"Tuple((u1[::1], {I8_1}, {I8_1}))({I8_3}, {I8_2}, {B1_1}, {I8_2}, {B1_1}, {I8_1}, {B1_1}, {I8_1}, i8, {I8_2}, {I8_2})",
    "pack16": f"Tuple((u1[::1], {I8_1}, {I8_1}))(i2[:, :, ::1], {I8_2}, {B1_1}, {I8_2}, {B1_1}, {I8_1}, {B1_1}, {I8_1}, i8, {I8_2}, {I8_2})",
    "zero_map": f"b1({F8_2}, i8, i8, {B1_3})",
    "zero_map16": f"b1(i2[:, ::1], i8, i8, {B1_3})",
    "segments16": f"void(i2[:, ::1], {I8_1}, i8, {F8_3})",
    "to_int32": "b1(f8[:, :], i4[:, ::1])",
    "to_int16": "b1(f8[:, :], i2[:, ::1])",
    "energy_slice": f"void(f8[:, :], f8[:, :], i8, {F8_1})",
    "energy_slice16": f"void(i2[:, :], i2[:, :], i8, {F8_1})",
}
# the decoder's loops (tqa.sv2._jit; its callers in tqa.sv2.codec / transform pass exactly these)
DECODE_SIGNATURES = {
    "unpack_frames": f"void(u1[::1], {I8_1}, i8, i8, i8, i8, i8, i8, {I8_2}, {I8_2}, u1[:, ::1], {I8_2}, {I8_1}, {F8_1}, "
                     f"f8, f8, f8, {F8_3}, {I8_1}, {I8_2}, {B1_3}, {I8_1})",
    "synthesize": f"void({F8_3}, {I8_1}, {I8_2}, {F8_2}, i8, {F8_3}, {F8_1})",
    "scaled_int16": f"void(f8[:, :], {F8_1}, {F8_1}, i2[:, :])",
    # the encoder's lanes for perceptual frames (codec._lanes_encoder), which live beside the decoder's
    "encode_lanes": f"Tuple((u2[::1], {I8_1}))({I8_2}, {I8_2}, {I8_1}, {I8_1}, {I8_1}, {I8_2}, {I8_2})",
}
SIGNATURES.update(DECODE_SIGNATURES)

ALIASES = {"pack16": "pack", "zero_map16": "zero_map", "fold_block16": "fold_block"}  # the same function for another type (the JIT dispatches by type)

_loaded: list = []


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _numba_version() -> str:
    """numba's version ("" where it is not installed), read from the _version.py its releases
    carry (not imported: importlib.metadata's import and look-ups cost a one-shot process
    30-80 ms, measured), else from the package metadata."""
    spec = importlib.util.find_spec("numba")
    if spec is None:
        return ""
    try:
        text = (pathlib.Path(spec.origin).parent / "_version.py").read_text()
        m = re.search(r'"version":\s*"([^"]+)"', text)
        if "version_json" in text and m:
            return m.group(1)
    except (OSError, TypeError, UnicodeDecodeError):
        pass
    return _version("numba")


def module_name() -> str | None:
    """The module's name for this source and these versions (None: numba not installed)."""
    import numpy

    nb = _numba_version()
    if not nb:
        return None
    here = pathlib.Path(__file__)
    src = b"".join(here.with_name(f).read_bytes() for f in ("_jitenc.py", "_jit.py")) + here.read_bytes()
    h = sha256(src + f"|{nb}|{numpy.__version__}|{sys.version}|{importlib.machinery.EXTENSION_SUFFIXES[0]}|{_cpu()}".encode())
    return "_tqa_sv2enc_" + h.hexdigest()[:16]


def _cpu() -> str:
    """What the machine code is built for (the host CPU): its feature flags where Linux says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return sha256(line.encode()).hexdigest()[:16]
    except OSError:
        pass
    import platform

    return platform.machine() + platform.processor()


def cache_dir() -> pathlib.Path:
    base = os.environ.get("TQA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tqa")
    return pathlib.Path(base)


def _path(name: str) -> pathlib.Path:
    return cache_dir() / (name + (importlib.machinery.EXTENSION_SUFFIXES[0]))


def _import(name: str, path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(name, str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    missing = [k for k in SIGNATURES if not hasattr(mod, k)]
    if missing:
        raise ImportError(f"{path}: lacks {missing}")
    return mod


def load(build: str = "background"):
    """The compiled module, or None.  Where it is not built yet: ``build="background"`` starts
    its build in a detached child process and returns None (this process uses the JIT
    functions; later ones load the module), ``"wait"`` builds it first, ``"no"`` does neither.
    Nothing is built while another process builds it."""
    if _loaded and _loaded[0] is not None:
        return _loaded[0]
    mod = None
    if os.environ.get("TQA_SV2_AOT", "1") != "0":
        name = module_name()
        if name is not None:
            path = _path(name)
            if not path.exists() and build in ("background", "wait") and not _failed(path):
                _build_in_child(name, path, wait=build == "wait")
            if path.exists():
                try:
                    mod = _import(name, path)
                except (ImportError, OSError):
                    mod = None
    _loaded[:] = [mod]
    return mod


def _build_in_child(name: str, path: pathlib.Path, wait: bool) -> None:
    """Build in a child process (pycc's compiler state stays out of this one), which writes a
    temporary name and renames it (concurrent processes never load half a file) and holds a
    lock file meanwhile (one builder at a time; a lock older than 15 minutes is stale)."""
    lock = path.with_suffix(".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if lock.exists() and time.time() - lock.stat().st_mtime < 900:
            return
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
            str(pathlib.Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")])))  # fmt: skip
        p = subprocess.Popen([sys.executable, "-m", "tqa.sv2._aot", name, str(path)], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=not wait)  # fmt: skip
        if wait:
            p.wait(timeout=900)
    except (OSError, subprocess.SubprocessError):
        pass


def _failed(path: pathlib.Path) -> bool:
    """Whether a build of this module failed here (e.g. no C compiler for pycc's wrapper): then
    no process starts another one on its own (each would spend its ~12 s again); ``python -m
    tqa.sv2._aot`` retries."""
    return path.with_suffix(".failed").exists()


def _locked_build(name: str, path: pathlib.Path) -> None:
    lock = path.with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)  # `python -m tqa.sv2._aot` on a new machine: no cache yet
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if time.time() - lock.stat().st_mtime < 900:
            return  # another process builds it
        lock.unlink(missing_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.close(fd)
    failed = path.with_suffix(".failed")
    try:
        if not path.exists():
            build(name, path)
        failed.unlink(missing_ok=True)
    except Exception as exc:  # recorded, so that later processes use the JIT without retrying
        failed.write_text(f"{type(exc).__name__}: {exc}\n")
        raise
    finally:
        lock.unlink(missing_ok=True)
    prune(path)  # after the build, outside its failure record


# A module unused this long is another version's (an upgrade, an old checkout): each is ~1.5 MB.
# Not sooner, since several checkouts or venvs may share the folder; loading one refreshes its
# access time at least daily under Linux's default relatime.
STALE_DAYS = 30


def prune(keep: pathlib.Path, now: float | None = None) -> list[pathlib.Path]:
    """Remove the other modules of this cache folder (and their ``.failed`` records) not used for
    STALE_DAYS; returns what went.  Runs after a build, so a process that only loads never scans."""
    limit = (time.time() if now is None else now) - STALE_DAYS * 86400
    gone = []
    for p in keep.parent.glob("_tqa_sv2enc_*"):
        if p.name.startswith(keep.stem.split(".")[0]) or p.suffix == ".lock":
            continue
        try:
            st = p.stat()
            if max(st.st_atime, st.st_mtime) < limit:
                p.unlink()
                gone.append(p)
        except OSError:
            pass  # another process pruned it, or it is not ours to remove
    return gone


def build(name: str, path: pathlib.Path) -> None:
    import warnings

    warnings.simplefilter("ignore")  # pycc's deprecation notice
    from numba.pycc import CC
    from numba.pycc import compiler as pycc_compiler

    from . import _jit, _jitenc

    # The exported wrappers release the GIL, as the JIT versions (njit(nogil=True)) do: pycc's
    # compiles with numba's default flags (release_gil off), so the loops held it.  zarr decodes a
    # crop's two chunks in two threads (asyncio.to_thread); holding the GIL ran them one after the
    # other while WavPack's ran side by side.  pycc makes its Flags() once per build: swapped here.
    plain = pycc_compiler.Flags

    def released():
        f = plain()
        f.release_gil = True
        return f

    pycc_compiler.Flags = released
    try:
        _build(name, path, CC, _jit, _jitenc)
    finally:
        pycc_compiler.Flags = plain


def _build(name: str, path: pathlib.Path, CC, _jit, _jitenc) -> None:
    cc = CC(name)
    cc.target_cpu = "host"  # built where it runs (the CPU is part of the name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        cc.output_dir = tmp
        cc.verbose = False
        for fn, sig in SIGNATURES.items():
            src = _jit if fn in DECODE_SIGNATURES else _jitenc
            cc.export(fn, sig)(getattr(src, ALIASES.get(fn, fn)).py_func)
        cc.compile()
        built = [p for p in pathlib.Path(tmp).iterdir() if p.name.startswith(name) and p.suffix in (".so", ".pyd")]
        if len(built) != 1:
            raise RuntimeError(f"pycc built {built}")
        os.replace(built[0], path)


if __name__ == "__main__":  # python -m tqa.sv2._aot [NAME PATH]: build (what load() runs; no arguments: this checkout's)
    if len(sys.argv) == 3:
        _locked_build(sys.argv[1], pathlib.Path(sys.argv[2]))
    else:
        n = module_name()
        if n is None:
            raise SystemExit("numba is not installed")
        _locked_build(n, _path(n))
        print(_path(n))
