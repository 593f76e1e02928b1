"""Sample formats and the integer grid the codec works on.

Every input is mapped onto one fixed-point grid, ``GRID = 2**23`` steps per unit of
full scale (24-bit resolution):

============  =====================================  =================================
source        to the grid                            from the grid (decode)
============  =====================================  =================================
int16         ``x * 256`` (exact)                    ``clip(rint(g / 256))``
int32         ``rint(x / 256)`` (drops 8 LSBs,       ``clip(g * 256)``
              ~-144 dBFS, far below any setting)
float32/64    ``rint(x * 2**23)``                    ``g / 2**23``
============  =====================================  =================================

Float input may exceed +-1.0 by up to ``HEADROOM`` (16.0, +24 dB); the grid then
stays below 2**27, which keeps every Hadamard sum in the codec below 2**53 (exact
in float64) for the largest block and finest quantizer.  Float samples smaller than
half a grid step (2**-24) become zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRID", "HEADROOM", "FORMATS", "as_samples", "to_grid", "from_grid", "format_of_dtype", "format_code",
           "output_dtype"]  # fmt: skip

GRID = float(2**23)
HEADROOM = 16.0

# format code -> (name, bytes per sample in the source PCM, soundfile subtype)
FORMATS: dict[int, tuple[str, int, str]] = {
    1: ("int16", 2, "PCM_16"),
    2: ("int24", 3, "PCM_24"),
    3: ("int32", 4, "PCM_32"),
    4: ("float32", 4, "FLOAT"),
    5: ("float64", 8, "DOUBLE"),
    6: ("int8", 1, "PCM_S8"),
    7: ("uint8", 1, "PCM_U8"),
}
_DTYPE_FORMAT = {np.dtype(np.int16): 1, np.dtype(np.int32): 3, np.dtype(np.float32): 4, np.dtype(np.float64): 5}
OUTPUT_DTYPES = ("float32", "float64", "int16", "int32")


def format_of_dtype(dtype: np.dtype) -> int:
    return _DTYPE_FORMAT[np.dtype(dtype).newbyteorder("=")]


def format_code(source_format: int | str) -> int:
    """The format code of a source format given by name (``"int16"``…) or code."""
    names = {v[0]: k for k, v in FORMATS.items()}
    if isinstance(source_format, str) and source_format in names:
        return names[source_format]
    if not isinstance(source_format, bool) and isinstance(source_format, (int, np.integer)) and int(source_format) in FORMATS:
        return int(source_format)
    raise ValueError(f"source_format must be one of {', '.join(names)}, got {source_format!r}")


def output_dtype(dtype) -> str:
    """A decode dtype (a name or a NumPy dtype/type) as one of OUTPUT_DTYPES."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in OUTPUT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {dtype!r}")
    return name


def as_samples(samples: object, name: str = "samples", first: int = 0) -> np.ndarray:
    """Validate ``samples`` and return them as a native-endian (n, channels) array.

    Accepts int16, int32, float32 or float64 arrays (or nested lists, read as
    float64) of shape (n,) or (n, channels).  Raises TypeError for other dtypes and
    ValueError for a bad shape, NaN/Inf (naming the first bad sample, counted from
    ``first``: the stream position of this chunk) or float samples beyond the headroom.
    """
    if isinstance(samples, (list, tuple)):
        try:
            samples = np.asarray(samples, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: a list must hold numbers in a regular (n,) or (n, channels) shape ({exc})") from None
    if not hasattr(samples, "dtype") or not hasattr(samples, "shape"):
        raise TypeError(f"{name} must be a NumPy array or a list of numbers, got {type(samples).__name__}")
    x = np.asarray(samples)
    if x.dtype.kind not in "if" or x.dtype.newbyteorder("=") not in _DTYPE_FORMAT:
        raise TypeError(f"{name} must be int16, int32, float32 or float64, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, channels), got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one channel, got shape {x.shape}")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    if x.dtype.kind == "f":
        _check_float(x, name, first)
    return x


CHECK_ROWS = 1 << 16  # float validation in slices: bounded temporaries whatever the input's size


def _check_float(x: np.ndarray, name: str, first: int = 0) -> None:
    for lo in range(0, x.shape[0], CHECK_ROWS):
        part = x[lo : lo + CHECK_ROWS]
        with np.errstate(invalid="ignore"):
            big = np.abs(part) > HEADROOM  # NaN compares False: found by the isfinite check below
        if not big.any() and np.isfinite(part.sum(axis=0)).all():
            continue
        bad = ~np.isfinite(part)
        if bad.any():
            i, c = np.argwhere(bad)[0]
            raise ValueError(f"{name} contains {part[i, c]} at sample {first + lo + i}, channel {c}: "
                             "NaN and Inf cannot be encoded")  # fmt: skip
        if big.any():
            i, c = np.argwhere(big)[0]
            raise ValueError(
                f"{name} has {part[i, c]!r} at sample {first + lo + i}, channel {c}: float samples must lie within "
                f"+-{HEADROOM} (full scale is 1.0)"
            )


def to_grid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Samples (validated by :func:`as_samples`) to float64 integers on the grid.

    ``out``: a float64 array of ``x``'s shape (any layout, e.g. the transposed view of
    a (channels, samples) buffer) to write into instead of a new array – one pass, no
    temporary.  Returns ``out`` (or the new array).
    """
    o = out
    if out is not None and x.ndim == 2 and out.ndim == 2 and out.flags.f_contiguous and not out.flags.c_contiguous:
        x, o = x.T, out.T  # the same elements, in the buffer's own order: strided reads, contiguous writes (2x faster)
    if x.dtype == np.int16:
        g = np.multiply(x, 256.0, out=o)
        return g if out is None else out
    if x.dtype == np.int32:
        g = np.multiply(x, 1.0 / 256.0, out=o)
    else:
        g = np.multiply(x, GRID, out=o)
    np.rint(g, out=g)
    return g if out is None else out


def from_grid(g: np.ndarray, dtype: str, out: np.ndarray | None = None) -> np.ndarray:
    """Grid values to output samples of ``dtype`` (clipped to the integer range).

    The result is C-ordered whatever the layout of ``g`` (decoders hand in transposed
    views), as soundfile's arrays are.  One float64 temporary at most (the steps run
    in place on it); the values are those of the plain expressions, bit for bit.
    ``out``: an array of ``g``'s shape and of ``dtype`` (any layout) to write into instead;
    returned.
    """
    # -0.0 -> +0.0 (adding 0.0): engines may differ in the sign of an exact zero, the bytes must not
    if dtype == "float32":
        out = np.empty(g.shape, np.float32) if out is None else out
        # computed in float64 and rounded once to float32, as (g * s).astype(float32)
        np.multiply(g, 1.0 / GRID, out=out, casting="same_kind", dtype=np.float64)
        out += np.float32(0.0)
        return out
    if dtype == "float64":
        if out is None:
            out = np.multiply(g, 1.0 / GRID, order="C")
        else:
            np.multiply(g, 1.0 / GRID, out=out)
        out += 0.0
        return out
    if dtype == "int16":
        t = np.multiply(g, 1.0 / 256.0, order="C")
        np.rint(t, out=t)
        np.clip(t, -32768, 32767, out=t)
    elif dtype == "int32":
        t = np.multiply(g, 256.0, order="C")
        np.clip(t, -(2.0**31), 2.0**31 - 1, out=t)
    else:
        raise ValueError(f"dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {dtype!r}")
    if out is None:
        return t.astype(np.int16 if dtype == "int16" else np.int32)
    np.copyto(out, t, casting="unsafe")  # the integers t holds, as astype converts them
    return out
