"""Packing of fixed-width codes into bytes, MSB first, whole arrays at a time."""

from __future__ import annotations

import numpy as np

__all__ = ["pack", "unpack"]


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack (rows, n) codes of ``bits`` bits each (n % 8 == 0) into (rows, n*bits/8) bytes.

    Eight codes make ``bits`` bytes: they are shifted into one 64-bit word, big-endian,
    of which the low ``bits`` bytes are kept.  The first code takes the most
    significant bits.
    """
    rows, n = codes.shape
    if bits == 8:
        return codes.astype(np.uint8)
    if bits == 1:
        return np.packbits(codes.astype(np.uint8), axis=1)
    c = codes.reshape(rows, n // 8, 8).astype(np.uint64)
    c <<= np.arange(7 * bits, -1, -bits, dtype=np.uint64)
    word = np.bitwise_or.reduce(c, axis=2)
    return word.astype(">u8").view(np.uint8).reshape(rows, n // 8, 8)[:, :, 8 - bits :].reshape(rows, n // 8 * bits)


def unpack(data: np.ndarray, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack`: (rows, n*bits/8) bytes to (rows, n) uint8 codes."""
    rows = data.shape[0]
    if bits == 8:
        return data.reshape(rows, n)
    if bits == 1:
        return np.unpackbits(data, axis=1, count=n)
    buf = np.zeros((rows, n // 8, 8), np.uint8)
    buf[:, :, 8 - bits :] = data.reshape(rows, n // 8, bits)
    word = buf.view(">u8")  # (rows, n//8, 1)
    codes = (word >> np.arange(7 * bits, -1, -bits, dtype=np.uint64)) & np.uint64((1 << bits) - 1)
    return codes.astype(np.uint8).reshape(rows, n)
