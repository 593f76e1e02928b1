"""Packing of fixed-width codes into bytes, MSB first, whole arrays at a time."""

from __future__ import annotations

import numpy as np

__all__ = ["pack", "unpack"]


def _group(bits: int) -> tuple[int, int, type]:
    """(codes per group, bytes per group, word type): the fewest codes filling whole bytes."""
    g = 8 // np.gcd(bits, 8)
    nbytes = g * bits // 8
    return g, nbytes, (np.uint32 if nbytes <= 4 else np.uint64)


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack (rows, n) codes of ``bits`` bits each (n % 8 == 0) into (rows, n*bits/8) bytes.

    The first code takes the most significant bits.  Codes are combined ``g`` at a
    time (the fewest that fill whole bytes: 4 for 6 bits) in 32- or 64-bit words,
    big-endian, of which the low ``g*bits/8`` bytes are kept.
    """
    rows, n = codes.shape
    if bits == 8:
        return codes.astype(np.uint8)
    if bits == 1:
        return np.packbits(codes.astype(np.uint8), axis=1)
    g, nbytes, word_t = _group(bits)
    width = np.dtype(word_t).itemsize
    c = codes.reshape(rows, n // g, g).astype(word_t)
    word = c[:, :, 0] << word_t((g - 1) * bits)
    for i in range(1, g):  # g <= 8 word-wide passes beat a reduce over a 3-D temporary
        word |= c[:, :, i] << word_t((g - 1 - i) * bits)
    be = word.astype(">u4" if width == 4 else ">u8").view(np.uint8).reshape(rows, n // g, width)
    return be[:, :, width - nbytes :].reshape(rows, n // g * nbytes)


def unpack(data: np.ndarray, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack`: (rows, n*bits/8) bytes to (rows, n) uint8 codes."""
    rows = data.shape[0]
    if bits == 8:
        return data.reshape(rows, n)
    if bits == 1:
        return np.unpackbits(data, axis=1, count=n)
    # eight codes are always whole bytes: read them as one 64-bit word (measured faster than g-groups here)
    buf = np.zeros((rows, n // 8, 8), np.uint8)
    buf[:, :, 8 - bits :] = data.reshape(rows, n // 8, bits)
    word = buf.view(">u8")  # (rows, n//8, 1)
    codes = (word >> np.arange(7 * bits, -1, -bits, dtype=np.uint64)) & np.uint64((1 << bits) - 1)
    return codes.astype(np.uint8).reshape(rows, n)
