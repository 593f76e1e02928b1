"""TQA: a lossy audio codec built on TurboQuant's data-oblivious quantizer.

Each block of samples is rotated by a seeded random-sign Walsh–Hadamard transform into
near-Gaussian coordinates and quantized with an MSE-optimal Lloyd–Max codebook (the
time-domain profile, with a 1-bit residual layer), or the same quantizer runs inside MDCT
bands with water-filled bits (the spectral profile).  The file format: :mod:`tqa.format`;
profiles: :mod:`tqa.profiles`; engines: :mod:`tqa.engine`, :mod:`tqa.registry`.

The names below are imported on first use (PEP 562), so that ``import tqa`` – and the
command line's start, which must catch Ctrl-C before NumPy loads – costs nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0"

_EXPORTS = {
    "encode": "api", "decode": "api", "info": "api", "verify": "api", "Encoder": "api", "Decoder": "api",
    "DamagedFramesWarning": "api", "UnfinishedStreamWarning": "api", "FormatError": "format",
    "lloyd_max": "codebook", "Codebook": "codebook", "Rotation": "rotation", "TurboAudioEngine": "legacy",
    "Engine": "engine", "engines": "registry", "set_engine": "registry", "set_global_engine": "registry",
    "register_engine": "registry",
}  # fmt: skip
__all__ = [*_EXPORTS, "profiles"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        try:  # a submodule: tqa.stream, tqa.profiles, ...
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'tqa' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
