"""sv2's perceptual tune (``tune="perceptual"``): masking-weighted steps and noise filling.

Both are off in ``tune="sqnr"`` streams (params version 1, the default: bytes unchanged).  A
perceptual stream has params version 2 (version-1 readers refuse it: "magic/version"), whose
bit-packed body ends with the record :func:`pack_record` writes, and its frames carry a gain
field and may carry a noise record (frame header bit 5; version-1 readers refuse header bytes
above 31).  In the container the spectral2 header's flags bit 4 says ``tune=perceptual``
(readers before it refuse flags above 15).

**Weights** (the masking model, the step of each coefficient is ``step · W``):
W[f, k] = w[band(k)] · 2**(g[f]/4) · 2**(u[f, group(k)]/4), all >= 1:

* w[b] = 2**(wq[b]/4), wq[b] in 0..31 per stream (params): noise power ∝ the stream's
  long-term band energy**``mask`` (``mask=0``, the default, sends all zeros: measured best);
* g[f] in 0..63 per frame: noise power ∝ the frame's mean square**``tmask`` (temporal masking;
  code 0 at 1 LSB of 16-bit RMS and below) times its spectral flatness**``tonal``, the flatness
  capped at -20 dB (a tonal frame masks less than a noise-like one of the same energy, as in the
  MPEG psychoacoustic models' tonality index; an encoder choice: the decoder reads g);
* u[f, j] in 0..15 per frame and group of LG = 4 bands: noise power ∝ (the group's mean square
  relative to the loudest group of the frame)**``lmask``, the loudest group at 15 (a spreading-
  free masking curve per frame); **``lnoise`` instead in frames whose coarse spectrum is flat
  (:func:`group_flatness` >= ``lflat``: broadband percussion, measured better on hits/loops).

Short frames use u = 0 (the frame gain g only: measured better on percussion and
speech than both or neither).  The encoder divides the coefficients by W before
quantizing, so band classes, stereo decisions (L/R or M/S by the rate proxy), rate estimates
and the pre-echo guard (its noise scaled by the RMS of w and of the frame's gains) all work in the weighted domain
("the same cost"); the decoder multiplies the dequantized, noise-filled coefficients by W.  W
is the same for every channel of a frame and constant inside a band, so it commutes with M/S
and with the band rotation.

**Hard stops** (an encoder choice: short frames were already sent): besides attacks, a
perceptual stream codes in short blocks the frames holding a sub-block 100 times (``release``)
louder than the mean of the 8 after it, unless one of those is digital silence
(:func:`tqa.sv2.codec.detect_releases`).  A long block over such a stop spreads its noise into
the quiet after it, where nothing masks it: loops_sonicpi at 21.1 s, a 10-ms burst cut to 1 LSB
RMS, had 20-30 LSB RMS of error for 20 ms after the cut (WavPack 1-2), which alone made the
whole file's Zimtohrli 1.14x WavPack's at -b4 (0.78x with the stop in short blocks).

**Noise filling**: bands that quantize to all zeros (class 0) are grouped G bands at a time
(per channel, G = 1, 2, 4 or 8 sent per stream); each group with at least one empty band gets a
3-bit noise class n in the frame's noise record, from the mean square m of those empty bands'
coefficients in steps (weighted domain, the short blocks' refined steps included):
n = clip(rint(log2(m · nf_gain)) + 9, 0, 7), 0 = no fill; the decoder sets every coefficient of
those empty bands to ±2**((n - 9)/2) · step (per-coefficient step), the sign from a counter-based
hash (splitmix64) of (seed, absolute frame index, channel, coefficient): deterministic,
frame-independent, the same on every engine (one NumPy function after the entropy decoder,
whatever its path).  Coefficients that quantize to 0 inside coded bands are set to
±(z/64) · step (z in 0..63 per stream, 0 = off).

Frame layout (after the header byte, the step refinements and the silence map):
[noise record if header bit 5: varint L, then L bytes: the 3-bit noise classes, MSB first, of
the groups holding an empty band, channel by channel, group by group; L = ceil(3·count/8),
checked; a frame whose classes are all 0 sends none], then always u8 g (<= 63) and
ceil(nb/LG/2) bytes of 4-bit u codes (high nibble first), then the varint word count as before.

Params record (after the tables, same bit stream): 2 bits log2 G, 6 bits z, hop/16 × 5 bits wq.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BAND = 16
NCLS = 8  # noise classes 0..7
NOFF = 9  # class n <-> mean square 2**(n - NOFF) steps**2
WMAX = 31  # weight codes 0..31, w = 2**(wq/4)
VERSION = 2  # params version of perceptual streams
HDR_BIT = 32  # frame header bit: noise record present
LG = 4  # bands per local weight group
LMAX = 15  # local weight codes 0..15, weight 2**(u/4)
GMAX = 63  # frame gain codes 0..63, gain 2**(g/4)
GREF = 256.0**2  # frame mean square (grid units: 1 LSB of 16-bit audio RMS) at gain code 0
TFLOOR = GREF * 1e-2  # the flatness's floor on a coefficient's power (0.1 LSB RMS)
FULL_BAND = 22050.0  # Hz: the band group_flatness spans (44.1 kHz streams' Nyquist)
TONAL_CAP = -20.0 / (10 * math.log10(2))  # flatness above -20 dB (log2 units) counts as -20 dB (noise-like frames alike)


@dataclass(frozen=True)
class Record:
    """The perceptual stream parameters (params version 2)."""

    group: int  # bands per noise group: 1, 2, 4, 8
    zero: int  # in-band zero fill, 1/64 step (0 = off)
    wq: np.ndarray  # (nb,) int64, band weight codes

    def weight(self) -> np.ndarray:
        return weight_of(self.wq)


def weight_of(wq) -> np.ndarray:
    return np.exp2(np.asarray(wq, np.int64) / 4.0)


def pack_record(group: int, zero: int, wq) -> list[tuple[np.ndarray, int]]:
    """Bit fields (values, width) of the params record."""
    g = {1: 0, 2: 1, 4: 2, 8: 3}[group]
    return [(np.array([g]), 2), (np.array([zero]), 6), (np.asarray(wq, np.int64), 5)]


def parse_record(take, hop: int) -> Record:
    g = int(take(1, 2)[0])
    z = int(take(1, 6)[0])
    wq = take(hop // BAND, 5).astype(np.int64)
    return Record(1 << g, z, wq)


# -- encoder ------------------------------------------------------------------------------------
def weights_from_energy(P: np.ndarray, mask: float) -> tuple[int, ...]:
    """Weight codes (nb,) from long-term band energies P (nb,): noise power ∝ P**mask, the
    loudest band at WMAX, none below 0."""
    P = np.asarray(P, np.float64)
    if mask <= 0 or not np.any(P > 0):
        return tuple([0] * P.size)
    lp = np.log2(np.maximum(P, P.max() * 1e-30))
    wq = np.clip(np.rint(WMAX + 2.0 * mask * (lp - lp.max())), 0, WMAX).astype(np.int64)
    return tuple(int(v) for v in wq)


def weight_rms(wq) -> float:
    """RMS of the weights over the bands (the pre-echo guard's noise scale)."""
    w = weight_of(wq)
    return float(np.sqrt(np.mean(w * w)))


def coef_weights(wq, N: int) -> np.ndarray:
    """(N,) per-coefficient weight of the bands."""
    return np.repeat(weight_of(wq), BAND)[:N]


def flatness(X: np.ndarray) -> np.ndarray:
    """(F,) log2 of each frame's spectral flatness (<= 0): the geometric over the arithmetic mean
    of its coefficients' powers X² (F, ch, N), each floored at TFLOOR (a quiet coefficient
    counts as that loud, so silence and band limits do not read as tonal without end)."""
    P = X * X + TFLOOR
    return np.mean(np.log2(P), axis=(1, 2)) - np.log2(np.mean(P, axis=(1, 2)))


def group_flatness(Eg: np.ndarray, sample_rate: int) -> np.ndarray:
    """(F,) log2 of the flatness of each frame's coarse spectrum: its groups' mean squares Eg
    (F, groups), each floored at TFLOOR, over at least 0..FULL_BAND Hz: a stream sampled below
    2·FULL_BAND counts the missing groups as silent (its band-limited frames read as peaked, not
    flat); one sampled above it keeps all its groups (measured on 44.1 and 22.05 kHz files only)."""
    P = Eg + TFLOOR
    pad = int(round(P.shape[1] * (2 * FULL_BAND / sample_rate - 1))) if sample_rate < 2 * FULL_BAND else 0
    if pad:
        P = np.concatenate((P, np.full((P.shape[0], pad), TFLOOR)), axis=1)
    return np.mean(np.log2(P), axis=1) - np.log2(np.mean(P, axis=1))


def frame_gains(X: np.ndarray, short: np.ndarray, tmask: float, lmask: float, tonal: float = 0.0,
                lnoise: float | None = None, lflat: float = 0.0, sample_rate: int = 44100) -> np.ndarray:
    """Frame gain codes (F, 1 + groups) from the frames' own coefficients X (F, ch, N) (before
    any weighting): column 0 the frame's (its noise power goes as its mean square**tmask times
    its spectral :func:`flatness`**tonal, the flatness capped at TONAL_CAP: tonal frames get a
    finer step), then one per group of LG bands (noise power ∝ (group mean square / frame mean
    square)**lmask, relative, 0..LMAX; ``lnoise`` instead of lmask in frames whose
    :func:`group_flatness` is at least ``lflat`` dB, None: lmask everywhere); short frames: the
    frame gain, local codes 0."""
    F, ch, N = X.shape
    E = np.einsum("fcn,fcn->f", X, X) / (ch * N)
    Eg = np.einsum("fcgk,fcgk->fg", X.reshape(F, ch, -1, LG * BAND), X.reshape(F, ch, -1, LG * BAND)) / (ch * LG * BAND)
    with np.errstate(divide="ignore"):
        lg2 = 2.0 * tmask * np.log2(np.maximum(E, 1e-300) / GREF)
        if tonal > 0:
            lg2 = lg2 + 2.0 * tonal * np.minimum(flatness(X), TONAL_CAP)
        g = np.clip(np.rint(lg2), 0, GMAX)
        lg = np.log2(np.maximum(Eg, 1e-300) / np.maximum(E, 1e-300)[:, None])
        lm = np.full(F, float(lmask))
        if lnoise is not None:
            lm[group_flatness(Eg, sample_rate) >= lflat / (10 * math.log10(2))] = lnoise
        u = np.clip(np.rint(2.0 * lm[:, None] * (lg - lg.max(axis=1, keepdims=True))) + LMAX, 0, LMAX)
    out = np.concatenate((g[:, None], u), axis=1)
    out[:, 0] = np.where(tmask <= 0, 0, out[:, 0])
    out[:, 1:] = np.where(lmask <= 0, 0, out[:, 1:])
    out[np.asarray(short, bool), 1:] = 0  # short frames: the frame gain only (measured best)
    return out.astype(np.int64)


def gain_of(g: np.ndarray) -> np.ndarray:
    """(F, 1, N) per coefficient gain of frame gain codes (F, 1 + groups)."""
    g = np.asarray(g, np.int64)
    return (np.exp2(g[:, :1] / 4.0) * np.repeat(np.exp2(g[:, 1:] / 4.0), LG * BAND, axis=1))[:, None, :]


def gain_rms(g: np.ndarray) -> np.ndarray:
    """(F,) RMS over the coefficients of each frame's gains (the pre-echo guard's noise scale)."""
    w = gain_of(g)[:, 0, :]
    return np.sqrt(np.mean(w * w, axis=1))


def gain_bytes(g: np.ndarray) -> bytes:
    """A frame's gain codes: u8 frame gain, then the groups' 4-bit codes (high nibble first)."""
    u = np.asarray(g[1:], np.int64)
    if u.size % 2:
        u = np.concatenate((u, [0]))
    return bytes([int(g[0])]) + bytes((u[0::2] << 4 | u[1::2]).astype(np.uint8).tolist())


def read_gains(b: bytes, pos: int, out: np.ndarray) -> int:
    ng = out.size - 1
    k = 1 + -(-ng // 2)
    if pos + k > len(b) or b[pos] > GMAX:
        raise ValueError("bad frame gain")
    out[0] = b[pos]
    v = np.frombuffer(b, np.uint8, k - 1, pos + 1).astype(np.int64)
    out[1:] = np.stack((v >> 4, v & 15), axis=1).reshape(-1)[:ng]
    return pos + k


def noise_levels(vb: np.ndarray, nz: np.ndarray, group: int, gain: float) -> np.ndarray:
    """Noise classes (F, ch, nb/G) of each group of G bands from |coefficient|/step ``vb``
    (F, ch, nb, 16) and the coded-band mask ``nz`` (F, ch, nb); -1 where a group has no empty band."""
    F, ch, nb, _ = vb.shape
    ms = np.einsum("fcbk,fcbk->fcb", vb, vb) / BAND
    empty = ~nz
    ng = nb // group
    e = empty.reshape(F, ch, ng, group)
    cnt = e.sum(-1)
    s = np.where(e, ms.reshape(F, ch, ng, group), 0.0).sum(-1)
    m = s / np.maximum(cnt, 1) * gain
    with np.errstate(divide="ignore"):
        n = np.clip(np.rint(np.log2(np.maximum(m, 1e-300))) + NOFF, 0, NCLS - 1)
    return np.where(cnt > 0, n, -1).astype(np.int8)


def records(nl: np.ndarray) -> list[bytes]:
    """Per frame, the noise record bytes (varint length included; b"" for none)."""
    from .codec import _varint  # the frames' varint (codec imports this module: not at the top)

    out = []
    for f in range(nl.shape[0]):
        v = nl[f].reshape(-1)
        v = v[v >= 0].astype(np.int64)
        if not v.size or not v.any():
            out.append(b"")
            continue
        bits = ((v[:, None] >> np.arange(2, -1, -1)[None, :]) & 1).astype(np.uint8).reshape(-1)
        body = np.packbits(bits).tobytes()
        out.append(_varint(len(body)) + body)
    return out


def record_bits(nl: np.ndarray, pg: np.ndarray | None = None) -> float:
    """Bits of the frames' noise records and gain codes (for the rate estimates)."""
    F = nl.shape[0]
    flat = nl.reshape(F, -1)
    cnt = (flat >= 0).sum(1)
    live = (flat > 0).any(1)
    gain = 0 if pg is None else F * 8 * (1 + -(-(pg.shape[1] - 1) // 2))
    return float(np.sum(np.where(live, 8 * np.ceil(3 * cnt / 8) + 8, 0))) + gain


# -- decoder ------------------------------------------------------------------------------------
_M1, _M2, _G = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64 arithmetic wraps)."""
    z = x + _G
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def signs(seed: int, index: np.ndarray, ch: int, N: int) -> np.ndarray:
    """(F, ch, N) ±1.0 of frames ``index`` (absolute), from a hash of (seed, frame, channel, k)."""
    s = _mix(np.array([seed & (2**64 - 1)], np.uint64))[0]
    f = np.asarray(index, np.uint64)[:, None, None] << np.uint64(19)
    c = np.arange(ch, dtype=np.uint64)[None, :, None] << np.uint64(11)
    k = np.arange(N, dtype=np.uint64)[None, None, :]
    with np.errstate(over="ignore"):
        h = _mix((f | c | k) ^ s)
    return np.where(h >> np.uint64(63), -1.0, 1.0)


def read_levels(rec: bytes, count: int) -> np.ndarray:
    """The ``count`` noise classes of a frame's record body (ValueError if its length is not
    ceil(3·count/8))."""
    if len(rec) != -(-3 * count // 8):
        raise ValueError("noise record length disagrees with the empty bands")
    bits = np.unpackbits(np.frombuffer(rec, np.uint8))[: 3 * count].astype(np.int64).reshape(count, 3)
    return bits @ np.array([4, 2, 1], np.int64)


def post(X: np.ndarray, cls: np.ndarray, recs: list, pgain: np.ndarray, rec: Record, step, seed: int, index: np.ndarray) -> np.ndarray:
    """The decoder's post-step on dequantized coefficients X (F, ch, N) in the weighted domain
    (before the inverse rotation and M/S): noise filling, then the band weights.  ``cls``
    (F, ch·nb) band classes, ``recs`` per frame the noise record body or None, ``step`` the
    quantizer step (scalar, or (F, 1, N) per coefficient), ``index`` the absolute frame
    indices.  Raises ValueError (with .frame_pos) on a malformed record."""
    F, ch, N = X.shape
    nb = N // BAND
    G = rec.group
    ng = nb // G
    empty = (cls.reshape(F, ch, nb) == 0)
    has = empty.reshape(F, ch, ng, G).any(-1)
    lvl = np.zeros((F, ch, ng))
    for j, r in enumerate(recs):
        if r is None:
            continue
        try:
            n = read_levels(r, int(has[j].sum()))
        except ValueError as exc:
            exc.frame_pos = j
            raise
        lv = np.zeros(has[j].shape)
        lv[has[j]] = np.where(n > 0, np.exp2((n - NOFF) / 2.0), 0.0)
        lvl[j] = lv
    fill_e = np.repeat(np.repeat(lvl, G, axis=2) * empty, BAND, axis=2)  # (F, ch, N): level in steps
    if rec.zero:
        coded = np.repeat(~empty, BAND, axis=2)
        fill_e = np.where(coded & (X == 0), rec.zero / 64.0, fill_e)
    if fill_e.any():
        X = X + signs(seed, index, ch, N) * fill_e * step
    return X * (coef_weights(rec.wq, N)[None, None, :] * gain_of(pgain))


def long_term_energy(EB: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Mean band energies (nb,) over the long frames (all frames if none) and channels of EB (F, ch, nb)."""
    sel = ~np.asarray(short, bool)
    E = EB[sel] if sel.any() else EB
    return E.mean(axis=(0, 1)) if E.size else np.zeros(EB.shape[-1])


def describe(rec: Record | None) -> dict:
    if rec is None:
        return {"tune": "sqnr"}
    return {"tune": "perceptual", "noise_group": rec.group, "zero_fill": rec.zero / 64.0,
            "weight_db": [round(20 * math.log10(w), 2) for w in rec.weight().tolist()]}
