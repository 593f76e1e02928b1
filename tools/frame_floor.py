"""The cost of spectral2's frame_floor (tqa.sv2.floor): bits/sample, stream SQNR and the lowest
per-hop SQNR with and without it, at quality= on audio files.

    python tools/frame_floor.py ../shared/corpus [--quality 40,45] [--floor-offset 0] [--coef]

Per hop and channel (hop samples of the decoded output against the 16-bit source, the hops
whose source RMS is above the floor's quiet level, tqa.sv2.floor.quiet_level): the lowest SQNR
and how many hops miss the floor.  bits/sample: params and payloads (the container adds ~0.02).
``--coef``: also the lowest coefficient-domain SQNR per frame (the decoded MDCT coefficients
against the source's, same frames) of the floor stream, to compare with the time-domain one.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np
import soundfile as sf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tqa import sv2  # noqa: E402
from tqa.sv2 import codec, transform  # noqa: E402
from tqa.sv2 import floor as fl  # noqa: E402


def hop_sqnr(g: np.ndarray, y: np.ndarray, hop: int, floor: float) -> np.ndarray:
    """SQNR (dB) of every hop and channel above the quiet level (F, ch), nan elsewhere."""
    n, ch = g.shape
    F = -(-n // hop)
    pad = lambda a: np.concatenate((a, np.zeros((F * hop - n, ch)))).reshape(F, hop, ch)  # noqa: E731
    G, E = pad(g), pad(g - y)
    s, e = np.einsum("fkc,fkc->fc", G, G), np.einsum("fkc,fkc->fc", E, E)
    nh = np.full(F, hop)
    nh[-1] = n - (F - 1) * hop
    loud = s >= fl.quiet_level(floor) ** 2 * nh[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(loud, np.where(e > 0, 10 * np.log10(s / e), np.inf), np.nan)


def coef_sqnr(g: np.ndarray, params: bytes, frames: list[bytes], loud: np.ndarray) -> float:
    """The lowest coefficient-domain SQNR of the frames whose hop is loud (any channel), per channel."""
    p = codec.parse_params(params)
    X, short, rl, rr, _ = codec.unpack_frames(p, frames, np.arange(p.n_frames))
    src = sv2._ArraySource(g, codec.Settings(quality=40, transients=False))
    seg = src.segments(np.arange(p.n_frames), p.hop)
    Xs = transform.forward_segments(seg, short, rl, rr)  # (ch, F, N), as the decoder's
    s, e = np.sum(Xs**2, axis=2), np.sum((Xs - X) ** 2, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(e > 0, 10 * np.log10(s / e), np.inf).T  # (F, ch)
    return float(snr[loud].min())


def run(path: pathlib.Path, quality: float, floor: float, coef: bool) -> dict:
    x, sr = sf.read(path, dtype="int16", always_2d=True)
    g = x.astype(np.float64) * 256
    row = {"file": path.stem, "quality": quality, "floor": floor}
    for key, kw in (("plain", {}), ("floor", {"frame_floor": floor})):
        t0 = time.process_time()
        params, frames = sv2.encode(g, sample_rate=sr, quality=quality, **kw)
        row[key + "_cpu"] = time.process_time() - t0
        y = sv2.decode(params, frames)
        hop = codec.parse_params(params).hop
        h = hop_sqnr(g, y, hop, floor)
        row[key + "_bits"] = 8 * (len(params) + sum(map(len, frames))) / g.size
        row[key + "_sqnr"] = 10 * math.log10(np.sum(g * g) / np.sum((g - y) ** 2))
        row[key + "_min"] = float(np.nanmin(h)) if np.isfinite(h).any() or (~np.isnan(h)).any() else float("nan")
        row[key + "_miss"] = int(np.count_nonzero(h < floor))
        row["hops"] = int(np.count_nonzero(~np.isnan(h)))
        row["all_hops"] = h.size
        if key == "floor":
            row["refined"] = sum(b[0] & fl.HDR_BIT > 0 for b in frames)
            if coef:
                row["coef_min"] = coef_sqnr(g, params, frames, ~np.isnan(h))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=pathlib.Path)
    ap.add_argument("--quality", default="40,45", help="comma-separated quality= values (dB)")
    ap.add_argument("--floor-offset", type=float, default=0.0, help="frame_floor = quality + this (dB)")
    ap.add_argument("--coef", action="store_true", help="also the coefficient-domain minimum per frame")
    a = ap.parse_args(argv)
    files = sorted(f for p in a.paths for f in ([p] if p.is_file() else p.glob("*.flac")))
    qs = [float(v) for v in a.quality.split(",")]
    cols = ["file", "quality / floor", "bits/sample plain → floor", "cost b/s", "stream SQNR plain → floor",
            "min hop SQNR plain → floor", "hops < floor plain → floor (of loud / all)", "frames refined",
            "encode CPU plain → floor"]  # fmt: skip
    if a.coef:
        cols.append("min frame coef SQNR (floor)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for q in qs:
        for f in files:
            r = run(f, q, q + a.floor_offset, a.coef)
            cells = [r["file"], f"{q:g} / {r['floor']:g}", f"{r['plain_bits']:.3f} → {r['floor_bits']:.3f}",
                     f"{r['floor_bits'] - r['plain_bits']:+.3f}", f"{r['plain_sqnr']:.2f} → {r['floor_sqnr']:.2f}",
                     f"{r['plain_min']:.1f} → {r['floor_min']:.1f}",
                     f"{r['plain_miss']} → {r['floor_miss']} ({r['hops']} / {r['all_hops']})", str(r["refined"]),
                     f"{r['plain_cpu']:.2f} → {r['floor_cpu']:.2f} s"]  # fmt: skip
            if a.coef:
                cells.append(f"{r['coef_min']:.1f}")
            print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
