"""Every profile's settings – defaults, ranges, validation – in one NumPy-free module.

The codecs (:mod:`tqa.profiles.time`, ``.spectral``, ``.spectral2``, :mod:`tqa.blockcodec`)
and the command line's parser read their Settings classes and limits from here: ``tqa
--help`` and argument checks need no NumPy (~70 ms to import) and no codec.  What a setting
*does* stays with its codec; a property that needs NumPy or a codec table imports it when
asked (by then the codec has loaded it).

NumPy scalars are accepted wherever Python numbers are: a value can only be one once NumPy is
loaded, so the checks look for NumPy in ``sys.modules`` instead of importing it.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass

__all__ = [
    "DEFAULT", "RUN_DEFAULT", "SETTINGS", "names", "resolve", "owners", "make", "settings", "BlockSettings", "TimeSettings", "SpectralSettings", "Spectral2Settings",
    "RATE_RANGE", "QUALITY_RANGE", "MIN_BLOCK", "MAX_BLOCK", "MAX_BITS", "RESIDUALS", "HOPS", "STEREO",
    "check_block_size", "check_seed", "check_rate_quality", "check_frame_floor", "FRAME_FLOOR_RANGE",
]  # fmt: skip

DEFAULT = "spectral2"  # the profile of an encode that names none (at SPECTRAL2_DEFAULT_RATE)
# ``tqa run``, ``tqa sim``, audiotq's ``tqa-cli`` / ``tqa-sim`` and TurboAudioEngine: the audiotq
# 0.1.1 surface, which stays on the time profile (6-bit Lloyd–Max + sign residual), byte for byte
RUN_DEFAULT = "time"

RATE_RANGE = (0.5, 16.0)  # bits per sample, all side info included
QUALITY_RANGE = (1.0, 120.0)  # dB
MIN_BLOCK = 64  # the time profile's rotation block, a power of two
MAX_BLOCK = 8192
MAX_BITS = 8  # the largest Lloyd–Max table (bits per coordinate)
RESIDUALS = ("none", "sign", "qjl")
DEFAULT_FRAME_SAMPLES = 4096  # time profile, per channel: the unit of random access and of the CRC
MAX_FRAME_BLOCKS = 4096
HOPS = (256, 512, 1024, 2048)  # MDCT hops of the spectral profiles
SPECTRAL_DEFAULT_RATE = 3.2  # bits per sample when neither rate nor quality is given
SPECTRAL2_DEFAULT_RATE = 3.0
STEREO = ("auto", "lr", "ms")
TUNES = ("sqnr", "perceptual")  # spectral2: MSE-optimal, or for listening (tqa.sv2.perceptual)
FRAME_FLOOR_RANGE = (1.0, 120.0)  # spectral2 frame_floor, dB, kept to quarter dB (the header stores it so)


def _np():
    return sys.modules.get("numpy")


def _is_int(v) -> bool:
    """An int or a NumPy integer, not a bool (nor a NumPy bool)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    np = _np()
    return np is not None and isinstance(v, np.integer)


def _is_number(v) -> bool:
    """An int, float or NumPy integer / floating, not a bool."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    np = _np()
    return np is not None and isinstance(v, (np.integer, np.floating))


def _is_bool(v) -> bool:
    if isinstance(v, bool):
        return True
    np = _np()
    return np is not None and isinstance(v, np.bool_)


def check_block_size(block_size: int) -> int:
    if not _is_int(block_size) or not MIN_BLOCK <= block_size <= MAX_BLOCK or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two from {MIN_BLOCK} to {MAX_BLOCK}, got {block_size!r}")
    return int(block_size)


def check_seed(seed: int) -> int:
    if not _is_int(seed) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer from 0 to 2**64-1, got {seed!r}")
    return int(seed)


def check_rate_quality(settings, default_rate: float) -> None:
    """Validate a settings object's ``rate`` / ``quality`` pair in place (frozen dataclass).

    One of them, or neither (then ``rate = default_rate``); each within its range and kept to
    the thousandths the header stores, so that encoder and decoder size frames from one value.
    """
    if settings.rate is not None and settings.quality is not None:
        raise ValueError("give one of rate= (bits per sample) or quality= (dB), not both")
    if settings.rate is None and settings.quality is None:
        object.__setattr__(settings, "rate", default_rate)
    for name, (lo, hi), unit in (("rate", RATE_RANGE, "bits per sample"), ("quality", QUALITY_RANGE, "dB")):
        v = getattr(settings, name)
        if v is None:
            continue
        if not _is_number(v) or not lo <= float(v) <= hi:
            raise ValueError(f"{name} must be {lo:g} to {hi:g} {unit}, got {v!r}")
        object.__setattr__(settings, name, round(float(v) * 1000) / 1000)


def check_frame_floor(v, tune: str = "sqnr") -> float:
    """spectral2's ``frame_floor`` (dB), rounded to the quarter dB the header stores."""
    lo, hi = FRAME_FLOOR_RANGE
    if not _is_number(v) or not lo <= float(v) <= hi:
        raise ValueError(f"frame_floor must be {lo:g} to {hi:g} dB (or None: off), got {v!r}")
    if tune != "sqnr":
        raise ValueError("frame_floor is an SQNR guarantee: it takes tune='sqnr', not tune='perceptual'")
    return round(float(v) * 4) / 4


# -- profile 0, time ----------------------------------------------------------------------
@dataclass(frozen=True)
class BlockSettings:
    """Parameters of the time-domain block codec (all stored in the .tqa header);
    :class:`tqa.blockcodec.Settings` is this class."""

    block_size: int = 512
    bits: int = 6
    residual: str = "sign"
    seed: int = 0
    qjl_rows: int | None = None  # m, the QJL sketch size; None: block_size

    def __post_init__(self) -> None:
        check_block_size(self.block_size)
        check_seed(self.seed)
        if not _is_int(self.bits) or not 1 <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be an integer from 1 to {MAX_BITS}, got {self.bits!r}")
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {', '.join(map(repr, RESIDUALS))}, got {self.residual!r}")
        m = self.qjl_rows
        if self.residual == "qjl":
            m = self.block_size if m is None else m
            if not _is_int(m) or not 8 <= m <= self.block_size or m % 8:
                raise ValueError(
                    f"qjl_rows must be a multiple of 8 from 8 to block_size={self.block_size}, got {self.qjl_rows!r}"
                )
        elif m not in (None, 0):
            raise ValueError(f"qjl_rows applies only to residual='qjl', got qjl_rows={m!r} with residual={self.residual!r}")
        else:
            m = 0
        object.__setattr__(self, "qjl_rows", int(m))
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "block_size", int(self.block_size))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def codebook(self):
        """The table the engines quantize against (refined for ``"sign"``)."""
        from ..codebook import lloyd_max

        cb = lloyd_max(self.bits)
        return cb.refined() if self.residual == "sign" else cb

    @property
    def nominal_mse(self) -> float:
        """MSE per unit variance on Gaussian coordinates (the theory tests check)."""
        import numpy as np

        mse = self.codebook.mse
        if self.residual == "qjl":
            mse *= 1.0 - (2.0 / np.pi) * self.qjl_rows / self.block_size
        return mse

    @property
    def nominal_sqnr_db(self) -> float:
        import numpy as np

        return float(-10.0 * np.log10(self.nominal_mse))

    @functools.cached_property
    def side_bytes(self) -> int:
        return 4 if self.residual == "qjl" else 2

    @functools.cached_property
    def code_bytes(self) -> int:
        return self.block_size * self.bits // 8

    @functools.cached_property
    def residual_bytes(self) -> int:
        return {"none": 0, "sign": self.block_size // 8, "qjl": self.qjl_rows // 8}[self.residual]

    @functools.cached_property
    def record_bytes(self) -> int:
        """Bytes per coded block: side info, packed codes, residual bits."""
        return self.side_bytes + self.code_bytes + self.residual_bytes


@dataclass(frozen=True)
class TimeSettings(BlockSettings):
    """Time-domain settings: the block codec's, and the samples per channel of a frame."""

    frame_samples: int | None = None  # default: DEFAULT_FRAME_SAMPLES (at least one block)

    def __post_init__(self) -> None:
        super().__post_init__()
        n, fs = self.block_size, self.frame_samples
        if fs is None:
            fs = max(n, DEFAULT_FRAME_SAMPLES // n * n)
        if not _is_int(fs) or fs < n or fs % n or fs // n > MAX_FRAME_BLOCKS:
            raise ValueError(f"frame_samples must be a multiple of block_size={n} up to {MAX_FRAME_BLOCKS} blocks, got {fs!r}")
        object.__setattr__(self, "frame_samples", int(fs))

    @property
    def frame_blocks(self) -> int:
        return self.frame_samples // self.block_size


# -- profile 1, spectral ------------------------------------------------------------------
@dataclass(frozen=True)
class SpectralSettings:
    """Parameters of the spectral profile (stored in the header)."""

    hop: int = 1024
    seed: int = 0
    rate: float | None = None  # bits per sample, all included (CBR); SPECTRAL_DEFAULT_RATE if quality is None
    quality: float | None = None  # target SQNR in dB (VBR)

    def __post_init__(self) -> None:
        if isinstance(self.hop, bool) or self.hop not in HOPS:
            raise ValueError(f"hop must be one of {', '.join(map(str, HOPS))}, got {self.hop!r}")
        check_seed(self.seed)
        check_rate_quality(self, SPECTRAL_DEFAULT_RATE)
        object.__setattr__(self, "hop", int(self.hop))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def vbr(self) -> bool:
        return self.quality is not None

    @property
    def bands(self) -> int:
        from ..spectral import BAND

        return self.hop // BAND

    def scale_bytes(self) -> int:
        from ..spectral import DELTA_BITS, SCALE_BITS

        return -(-(SCALE_BITS + DELTA_BITS * (self.bands - 1)) // 8)

    def cbr_frame_bytes(self, channels: int) -> int:
        import numpy as np

        return int(np.ceil(self.rate * self.hop * channels / 8.0))


# -- profile 2, spectral2 -----------------------------------------------------------------
@dataclass(frozen=True)
class Spectral2Settings:
    """Parameters of the spectral2 profile (stored in the header)."""

    rate: float | None = None  # bits per sample, all included; SPECTRAL2_DEFAULT_RATE if quality is None
    quality: float | None = None  # target SQNR in dB of the whole stream
    hop: int | str = "auto"  # 256..2048, or "auto" (rate=: 1024 or 2048, whichever measures better)
    seed: int = 0
    rotate: bool = False
    transients: bool = True
    preecho: bool = True
    silence: bool = True
    stereo: str = "auto"
    tune: str = "sqnr"  # "sqnr" (MSE-optimal) or "perceptual" (band weights, noise filling: tqa.sv2.perceptual)
    frame_floor: float | None = None  # dB: every hop above the quiet level meets it on the decoded output (tqa.sv2.floor)

    def __post_init__(self) -> None:
        if self.hop != "auto" and (isinstance(self.hop, bool) or self.hop not in HOPS):
            raise ValueError(f"hop must be 'auto' or one of {', '.join(map(str, HOPS))}, got {self.hop!r}")
        check_seed(self.seed)
        check_rate_quality(self, SPECTRAL2_DEFAULT_RATE)
        if self.stereo not in STEREO:
            raise ValueError(f"stereo must be one of {', '.join(STEREO)}, got {self.stereo!r}")
        if self.tune not in TUNES:
            raise ValueError(f"tune must be one of {', '.join(TUNES)}, got {self.tune!r}")
        if self.tune == "perceptual" and self.quality is not None:
            raise ValueError("tune='perceptual' takes rate= (quality= is an SQNR target: tune='sqnr')")
        for name in ("rotate", "transients", "preecho", "silence"):
            if not _is_bool(getattr(self, name)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.frame_floor is not None:
            object.__setattr__(self, "frame_floor", check_frame_floor(self.frame_floor, self.tune))


# -- the table ----------------------------------------------------------------------------
# profile name -> Settings, in the profile table's order (tqa.profiles: name <-> id <-> codec)
SETTINGS: dict[str, type] = {"time": TimeSettings, "spectral": SpectralSettings, "spectral2": Spectral2Settings}


def names() -> list[str]:
    return list(SETTINGS)


def make(cls: type, profile: str, **kw):
    """Validated settings ``cls(**kw)`` of ``profile`` (unknown keywords: a TypeError naming the known ones)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise TypeError(f"profile {profile!r} takes no setting {', '.join(unknown)} "
                        f"(its settings: {', '.join(sorted(known))})")  # fmt: skip
    return cls(**kw)


def settings(profile: str, **kw):
    """Validated settings of the profile named ``profile`` (ValueError for an unknown name)."""
    try:
        cls = SETTINGS[profile]
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(map(repr, SETTINGS))}") from None
    return make(cls, profile, **kw)


def owners(setting: str) -> list[str]:
    """The profiles whose Settings have the field ``setting``, in the table's order."""
    return [p for p, cls in SETTINGS.items() if setting in {f.name for f in dataclasses.fields(cls)}]


def resolve(profile, given, default: str = DEFAULT):
    """The profile of an encode: ``profile`` where one is named, else the one ``given`` settings pick.

    ``given``: the names of the settings passed (a dict's keys, or any iterable of names),
    ``default``: the profile to use when they do not decide.  With ``profile`` None:

    * the default, where it takes every given setting (none given: the default);
    * else the one profile that takes them all (``bits=4`` is the time profile's);
    * else, if every setting is some profile's but none takes them all (``bits`` with ``hop``),
      a TypeError naming each setting's profiles;
    * else the default: several profiles take them (the default does not), or a setting is no
      profile's, and the default's own checks name the profiles that take them (or the unknown one).

    Decided from the Settings dataclasses' fields, so a profile's new setting needs no list here.
    """
    if profile is not None:
        return profile
    keys = list(given)
    if not keys:
        return default
    fields = {p: {f.name for f in dataclasses.fields(cls)} for p, cls in SETTINGS.items()}
    takers = [p for p, f in fields.items() if f.issuperset(keys)]
    if default in takers:
        return default
    if len(takers) == 1:
        return takers[0]
    if not takers and all(owners(k) for k in keys):
        parts = [f"{k}= ({' or '.join(owners(k))})" for k in keys]
        raise TypeError(f"no profile takes all of {', '.join(parts)}: name the profile (profile=...)")
    return default
