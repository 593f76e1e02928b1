"""Packing of fixed-width codes into bytes, MSB first, whole arrays at a time."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["pack", "unpack"]


def _group(bits: int) -> tuple[int, int]:
    """(codes per group, bytes per group): the fewest codes filling whole bytes."""
    g = 8 // int(np.gcd(bits, 8))
    return g, g * bits // 8


@functools.lru_cache(maxsize=None)
def _layout(bits: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per byte of a group: the codes it holds bits of, as (code index, shift), in order.

    Code ``i`` occupies bits ``[i*bits, (i+1)*bits)`` of the group, MSB first; in byte ``k``
    it appears shifted left by ``shift = 8k + 8 - (i+1)*bits`` (right by ``-shift`` if that is
    negative).  In uint8 arithmetic a left shift drops the bits that belong to the byte
    before and a right shift those of the byte after, so each byte is an OR of shifted codes.
    """
    g, nbytes = _group(bits)
    out = []
    for k in range(nbytes):
        terms = []
        for i in range(g):
            lo, hi = i * bits, (i + 1) * bits
            if lo < 8 * k + 8 and hi > 8 * k:
                terms.append((i, 8 * k + 8 - hi))
        out.append(tuple(terms))
    return tuple(out)


def _shift(a: np.ndarray, s: int, out: np.ndarray) -> np.ndarray:
    if s > 0:
        return np.left_shift(a, np.uint8(s), out=out)
    if s < 0:
        return np.right_shift(a, np.uint8(-s), out=out)
    out[...] = a
    return out


def pack(codes: np.ndarray, bits: int, out: np.ndarray | None = None) -> np.ndarray:
    """Pack (rows, n) codes of ``bits`` bits each (n % 8 == 0) into (rows, n*bits/8) bytes.

    The first code takes the most significant bits; only each code's low ``bits`` bits are
    stored.  Byte-wide work: the codes, masked to uint8 once, are shifted into each byte of
    a group of ``g`` codes (the fewest that fill whole bytes: 4 for 6 bits) and OR-ed there.
    ``out``: a (rows, n*bits/8) uint8 array (its rows may be strided, e.g. a column range of
    block records) to write into; returned.
    """
    rows, n = codes.shape
    if out is None:
        out = np.empty((rows, n * bits // 8), np.uint8)
    if bits == 8:
        np.copyto(out, codes, casting="unsafe")
        return out
    if bits == 1:
        out[...] = np.packbits(codes.astype(np.uint8, copy=False), axis=1)
        return out
    g, nbytes = _group(bits)
    c = np.empty((rows, n), np.uint8)
    np.bitwise_and(codes, (1 << bits) - 1, out=c, casting="unsafe")  # the low ``bits`` bits, as uint8
    c = c.reshape(rows, n // g, g)
    o = out.reshape(rows, n // g, nbytes)  # splits the last axis only: a view even of strided rows
    if not np.may_share_memory(o, out):  # reshape copied
        raise ValueError("out must allow a view of shape (rows, groups, bytes)")
    t = np.empty((rows, n // g), np.uint8)
    for k, terms in enumerate(_layout(bits)):
        ok = o[:, :, k]
        (i, s), rest = terms[0], terms[1:]
        _shift(c[:, :, i], s, ok)
        for i, s in rest:
            ok |= _shift(c[:, :, i], s, t)
    return out


def unpack(data: np.ndarray, bits: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`pack`: (rows, n*bits/8) bytes to (rows, n) uint8 codes.

    Byte-wide work: each code is the OR of the (at most two) bytes it spans, each shifted
    into place in uint8 and masked.  ``out``: a C-contiguous (rows, n) uint8 array to write
    into; returned.
    """
    rows = data.shape[0]
    if bits == 8:
        if out is None:
            return data.reshape(rows, n)
        out[...] = data
        return out
    if bits == 1:
        if out is None:
            return np.unpackbits(data, axis=1, count=n)
        out[...] = np.unpackbits(data, axis=1, count=n)
        return out
    g, nbytes = _group(bits)
    src = data.reshape(rows, n // g, nbytes)
    if out is None:
        out = np.empty((rows, n), np.uint8)
    o = out.reshape(rows, n // g, g)
    mask = np.uint8((1 << bits) - 1)
    t = np.empty((rows, n // g), np.uint8)
    first = [True] * g
    for k, terms in enumerate(_layout(bits)):
        for i, s in terms:  # byte k holds code i shifted left by s: shift it back
            oi = o[:, :, i]
            if first[i]:
                _shift(src[:, :, k], -s, oi)
                first[i] = False
            else:
                oi |= _shift(src[:, :, k], -s, t)
    np.bitwise_and(out, mask, out=out)  # the bits of the neighbouring codes shifted in with them
    return out
