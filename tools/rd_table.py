"""Rate–distortion table of the time-domain profile on a folder of audio files.

    python tools/rd_table.py ../shared/corpus [--out table.md]

For bits 2..8 x residual none/sign/qjl: bits per sample of the whole .tqa stream
(header, frame index, CRC and side info included) and SQNR against the source,
per file and averaged.  Files are read with soundfile as 16-bit integers when
their subtype is 16-bit PCM (as the corpus is), else as float64.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import soundfile as sf

import tqa

AUDIO = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def load(path: pathlib.Path) -> tuple[np.ndarray, int]:
    dtype = "int16" if sf.info(str(path)).subtype == "PCM_16" else "float64"
    return sf.read(str(path), dtype=dtype, always_2d=True)


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = ref - out.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / np.sum(err**2)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--bits", default="2,3,4,5,6,7,8")
    args = ap.parse_args(argv)
    files = sorted(p for p in pathlib.Path(args.folder).iterdir() if p.suffix.lower() in AUDIO)
    if not files:
        print(f"no audio files in {args.folder}", file=sys.stderr)
        return 2
    signals = {p.stem: load(p) for p in files}
    rows = []
    t0 = time.time()
    for bits in map(int, args.bits.split(",")):
        for residual in ("none", "sign", "qjl"):
            bps, snr = [], []
            for x, sr in signals.values():
                data = tqa.encode(x, sr, bits=bits, residual=residual)
                y, _ = tqa.decode(data, dtype="int16" if x.dtype == np.int16 else "float64")
                bps.append(len(data) * 8 / x.size)
                snr.append(sqnr_db(x, y.reshape(x.shape)))
            rows.append((bits, residual, np.mean(bps), np.mean(snr), snr))
    names = list(signals)
    head = "| bits | residual | bits/sample | mean SQNR | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (4 + len(names))]
    for bits, residual, bps, mean, snr in rows:
        lines.append(f"| {bits} | {residual} | {bps:.3f} | {mean:.2f} | " + " | ".join(f"{v:.2f}" for v in snr) + " |")
    table = "\n".join(lines)
    print(table)
    print(f"\n({len(files)} files, {time.time() - t0:.1f} s; SQNR in dB against the source)")
    if args.out:
        pathlib.Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
