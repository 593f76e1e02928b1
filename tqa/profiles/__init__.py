"""The profile table: id <-> name <-> profile.  Every profile-specific decision lives in a profile.

A profile owns exactly three things (see :class:`Profile`): its settings (validation and
defaults: the only place that knows them), its 16 header bytes, and its codec (grid samples
<-> frame payloads).  Everything else – frames, CRCs, offsets and index, verify, recovery,
the streaming Encoder/Decoder – is written once, in :mod:`tqa.format` and :mod:`tqa.stream`.
"""

from __future__ import annotations

from .base import FrameDecoder, FrameEncoder, Profile
from .spectral import SPECTRAL
from .spectral2 import SPECTRAL2
from .time import TIME

__all__ = ["Profile", "FrameEncoder", "FrameDecoder", "get", "by_id", "names", "ids", "DEFAULT"]

_TABLE: tuple[Profile, ...] = (TIME, SPECTRAL, SPECTRAL2)
_BY_NAME = {p.name: p for p in _TABLE}
_BY_ID = {p.id: p for p in _TABLE}
DEFAULT = TIME.name


def names() -> list[str]:
    return list(_BY_NAME)


def ids() -> list[int]:
    return sorted(_BY_ID)


def get(name: str) -> Profile:
    """The profile called ``name`` (ValueError listing the known names otherwise)."""
    if isinstance(name, Profile):
        return name
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(map(repr, _BY_NAME))}") from None


def by_id(pid: int) -> Profile:
    return _BY_ID[pid]
