"""Packing of fixed-width codes into bytes, MSB first, whole arrays at a time."""

from __future__ import annotations

import numpy as np

__all__ = ["pack", "unpack"]


def _group(bits: int) -> tuple[int, int, type]:
    """(codes per group, bytes per group, word type): the fewest codes filling whole bytes."""
    g = 8 // np.gcd(bits, 8)
    nbytes = g * bits // 8
    return g, nbytes, (np.uint32 if nbytes <= 4 else np.uint64)


def pack(codes: np.ndarray, bits: int, out: np.ndarray | None = None) -> np.ndarray:
    """Pack (rows, n) codes of ``bits`` bits each (n % 8 == 0) into (rows, n*bits/8) bytes
    (written into ``out``, e.g. a column range of block records, if given; returned).

    The first code takes the most significant bits.  Codes are combined ``g`` at a time (the
    fewest that fill whole bytes: 4 for 6 bits), each placed in a 16-bit window over the (at
    most two) bytes it spans and OR-ed into them: byte-wide work, no word-wide temporaries.
    """
    rows, n = codes.shape
    if bits in (1, 8):
        packed = codes.astype(np.uint8) if bits == 8 else np.packbits(codes.astype(np.uint8), axis=1)
        if out is None:
            return packed
        out[...] = packed
        return out
    g, nbytes, _ = _group(bits)
    c = codes.reshape(rows, n // g, g)
    if out is None:
        into = np.zeros((rows, n // g, nbytes), np.uint8)
    else:
        into = out.reshape(rows, n // g, nbytes)  # splits the byte axis of a column range: a view
        if not np.may_share_memory(into, out):  # a layout that only a copy could split
            out[...] = pack(codes, bits)
            return out
        into[...] = 0
    _pack_groups(c, bits, into)
    return into.reshape(rows, n // g * nbytes) if out is None else out


def _pack_groups(c: np.ndarray, bits: int, out: np.ndarray) -> None:
    """OR each group's codes (rows, n/g, g) into its bytes (rows, n/g, nbytes) of ``out`` (zeroed)."""
    rows, groups, _ = c.shape
    w = np.empty((rows, groups), np.uint16)
    mask = np.uint16((1 << bits) - 1)
    for i, (k, shift, spans) in enumerate(_layout(bits)):
        np.bitwise_and(c[:, :, i], mask, out=w, dtype=np.uint16, casting="unsafe")  # the code's low ``bits`` bits
        w <<= np.uint16(shift)
        out[:, :, k] |= (w >> np.uint16(8)).astype(np.uint8)
        if spans:
            out[:, :, k + 1] |= w.astype(np.uint8)  # the low half (astype keeps the low byte)


def _layout(bits: int) -> list[tuple[int, int, bool]]:
    """Per code of a group: (first byte, left shift of the code in a 16-bit window starting at
    that byte, whether it runs into the next byte)."""
    out = []
    for i in range(_group(bits)[0]):
        o = i * bits
        out.append((o // 8, 16 - bits - o % 8, o % 8 + bits > 8))
    return out


def unpack(data: np.ndarray, bits: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`pack`: (rows, n*bits/8) bytes to (rows, n) uint8 codes (written into
    ``out``, a (rows, n) uint8 array, if given; returned).

    Byte-wide work: each code of a group is cut from the (at most two) bytes it spans, in
    16-bit words (a 64-bit word per eight codes took four times the memory traffic)."""
    rows = data.shape[0]
    if out is not None:
        if bits in (1, 8) or not out.flags.c_contiguous:
            out[...] = unpack(data, bits, n)
            return out
        _unpack_into(data, bits, n, out.reshape(rows, n // _group(bits)[0], _group(bits)[0]))
        return out
    if bits == 8:
        return data.reshape(rows, n)
    if bits == 1:
        return np.unpackbits(data, axis=1, count=n)
    g, nbytes, _ = _group(bits)
    out = np.empty((rows, n // g, g), np.uint8)
    _unpack_into(data, bits, n, out)
    return out.reshape(rows, n)


def _unpack_into(data: np.ndarray, bits: int, n: int, out: np.ndarray) -> None:
    rows = data.shape[0]
    g, nbytes, _ = _group(bits)
    src = data.reshape(rows, n // g, nbytes)
    mask = np.uint16((1 << bits) - 1)
    w = np.empty((rows, n // g), np.uint16)
    for i, (k, shift, spans) in enumerate(_layout(bits)):
        np.left_shift(src[:, :, k], np.uint16(8), out=w, dtype=np.uint16)  # byte k in the high half
        if spans:
            w |= src[:, :, k + 1]
        w >>= np.uint16(shift)
        w &= mask
        out[:, :, i] = w
