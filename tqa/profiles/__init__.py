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
from .settings import DEFAULT, SETTINGS

__all__ = ["Profile", "FrameEncoder", "FrameDecoder", "get", "by_id", "names", "ids", "DEFAULT"]

# name -> (module, object) of its codec; the names and their order are the settings table's
_CODECS = {"time": (".time", "TIME"), "spectral": (".spectral", "SPECTRAL"), "spectral2": (".spectral2", "SPECTRAL2")}
_BY_NAME: dict[str, Profile] = {}
_BY_ID: dict[int, Profile] = {}


def _load(name: str) -> Profile:
    p = _BY_NAME.get(name)
    if p is None:
        module, obj = _CODECS[name]
        p = getattr(importlib.import_module(module, __name__), obj)
        _BY_NAME[name] = p
    return p


def _all() -> dict[int, Profile]:
    if len(_BY_ID) < len(_CODECS):
        for name in _CODECS:
            p = _load(name)
            _BY_ID[p.id] = p
    return _BY_ID


def names() -> list[str]:
    return list(SETTINGS)


def ids() -> list[int]:
    return sorted(_all())


def get(name: str) -> Profile:
    """The profile called ``name`` (ValueError listing the known names otherwise)."""
    if isinstance(name, Profile):
        return name
    if not isinstance(name, str) or name not in _CODECS:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(map(repr, _CODECS))}")
    return _load(name)


def by_id(pid: int) -> Profile:
    return _all()[pid]


def __getattr__(name: str):  # TIME, SPECTRAL, SPECTRAL2 (and the codec submodules) load on first use
    for key, (_, obj) in _CODECS.items():
        if name == obj:
            return _load(key)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
