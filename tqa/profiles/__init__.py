"""The profile table: id <-> name <-> profile.  Every profile-specific decision lives in a profile.

A profile owns exactly three things (see :class:`Profile`): its settings (validation and
defaults: the only place that knows them, :mod:`tqa.profiles.settings`), its 16 header bytes,
and its codec (grid samples <-> frame payloads).  Everything else – frames, CRCs, offsets and
index, verify, recovery, the streaming Encoder/Decoder – is written once, in :mod:`tqa.format`
and :mod:`tqa.stream`.

The codecs load on first use (:func:`get`, :func:`by_id`): they import NumPy, which the
command line's start (its parser reads only the settings) does without.
"""

from __future__ import annotations

import importlib

from .base import FrameDecoder, FrameEncoder, Profile
from .settings import DEFAULT, RUN_DEFAULT, SETTINGS, resolve

__all__ = ["Profile", "FrameEncoder", "FrameDecoder", "get", "by_id", "names", "ids", "DEFAULT", "RUN_DEFAULT", "resolve"]

# name -> (id, module, object) of its codec (the id is the header's; each Profile states it too:
# tests check they agree); the names and their order are the settings table's
_CODECS = {"time": (0, ".time", "TIME"), "spectral": (1, ".spectral", "SPECTRAL"),
           "spectral2": (2, ".spectral2", "SPECTRAL2")}  # fmt: skip
_NAME_OF = {pid: name for name, (pid, _, _) in _CODECS.items()}
_BY_NAME: dict[str, Profile] = {}


def _load(name: str) -> Profile:
    p = _BY_NAME.get(name)
    if p is None:
        _, module, obj = _CODECS[name]
        p = getattr(importlib.import_module(module, __name__), obj)
        _BY_NAME[name] = p
    return p


def names() -> list[str]:
    return list(SETTINGS)


def ids() -> list[int]:
    return sorted(_NAME_OF)


def get(name: str) -> Profile:
    """The profile called ``name`` (ValueError listing the known names otherwise)."""
    if isinstance(name, Profile):
        return name
    if not isinstance(name, str) or name not in _CODECS:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(map(repr, _CODECS))}")
    return _load(name)


def by_id(pid: int) -> Profile:
    """The profile of header id ``pid`` (KeyError otherwise); only its codec is loaded."""
    return _load(_NAME_OF[pid])


def __getattr__(name: str):  # TIME, SPECTRAL, SPECTRAL2 (and the codec submodules) load on first use
    for key, (_, _, obj) in _CODECS.items():
        if name == obj:
            return _load(key)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
