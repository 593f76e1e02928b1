"""TQA: a lossy audio codec built on TurboQuant's data-oblivious quantizer.

Each block of samples is rotated by a seeded random-sign Walsh–Hadamard transform into
near-Gaussian coordinates and quantized with an MSE-optimal Lloyd–Max codebook (the
time-domain profile, with a 1-bit residual layer), or the same quantizer runs inside MDCT
bands with water-filled bits (the spectral profile).  The file format: :mod:`tqa.format`;
profiles: :mod:`tqa.profiles`; engines: :mod:`tqa.engine`, :mod:`tqa.registry`.
"""

from . import profiles
from .api import DamagedFramesWarning, Decoder, Encoder, UnfinishedStreamWarning, decode, encode, info, verify
from .codebook import Codebook, lloyd_max
from .engine import Engine
from .format import FormatError
from .legacy import TurboAudioEngine
from .registry import engines, register_engine, set_engine, set_global_engine
from .rotation import Rotation

__version__ = "0.3.0"
__all__ = [
    "encode", "decode", "info", "verify", "Encoder", "Decoder", "FormatError", "DamagedFramesWarning",
    "UnfinishedStreamWarning", "lloyd_max", "Codebook", "Rotation", "TurboAudioEngine", "Engine", "engines",
    "set_engine", "set_global_engine", "register_engine", "profiles",
]  # fmt: skip
