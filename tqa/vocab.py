"""Names that the library and the command line share, importable without NumPy (the parser of
``tqa`` lists them; :mod:`tqa.audio` and :mod:`tqa.signals` act on them)."""

from __future__ import annotations

__all__ = ["OUTPUT_FORMATS", "SIGNAL_TYPES"]

# output file extension -> libsndfile major format (tqa.audio)
OUTPUT_FORMATS = {
    ".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".au": "AU",
    ".caf": "CAF", ".w64": "W64", ".rf64": "RF64",
}  # fmt: skip

# the synthetic signals of tqa.signals.generate (``tqa sim --type``)
SIGNAL_TYPES = ("sine", "square", "noise", "transient", "chirp", "hadamard")
