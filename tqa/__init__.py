"""TQA: a lossy audio codec built on TurboQuant's data-oblivious quantizer.

Each block of samples is rotated by a seeded random-sign Walsh–Hadamard transform
into near-Gaussian coordinates, quantized with an MSE-optimal Lloyd–Max codebook and
refined by a 1-bit residual layer (sign or QJL).  See :mod:`tqa.container` for the
file format.
"""

from .api import DamagedFramesWarning, Decoder, Encoder, decode, encode, info, verify
from .codebook import Codebook, lloyd_max
from .container import FormatError
from .legacy import TurboAudioEngine
from .registry import engines, set_engine
from .rotation import Rotation

__version__ = "0.2.0"
__all__ = [
    "encode", "decode", "info", "verify", "Encoder", "Decoder", "FormatError", "DamagedFramesWarning",
    "lloyd_max", "Codebook", "Rotation", "TurboAudioEngine", "engines", "set_engine",
]  # fmt: skip
