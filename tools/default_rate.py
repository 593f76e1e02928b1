"""The default encode (``tqa encode X.wav``: spectral2 at 3.0 bits/sample) against FLAC -5 and WavPack -b3.

    python tools/default_rate.py CORPUS_DIR [--out table.md]

For each audio file of CORPUS_DIR (converted to a 16-bit WAV first, as the others read it):

* FLAC: ``flac -5 -f -s -o X.flac X.wav`` (lossless; its size is the reference);
* WavPack: ``wavpack -b3 -q -y`` (hybrid lossy at 3 bits/sample), its measured rate (the .wv
  file's bits over frames x channels) and SQNR (``wvunpack``, against the 16-bit source);
* TQA default: what ``tqa encode X.wav`` writes (:func:`tqa.audio.encode_file` with no settings),
  its size as a fraction of FLAC's, bits/sample (the whole .tqa file) and SQNR of the decoded
  stream against the 16-bit source (:func:`tqa.audio.measure_tqa`, what ``tqa compare`` reports);
* the time profile (the default before): ``--profile time``, size / FLAC, bits/sample and SQNR.

The last row sums the sizes (fractions of the summed FLAC bytes) and averages the SQNRs.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

AUDIO = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def _sqnr(ref: np.ndarray, test: np.ndarray) -> float:
    err = np.sum((ref.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / err))


def measure(path: pathlib.Path, tmp: str) -> dict:
    from tqa import audio

    x, sr = sf.read(str(path), dtype="int16", always_2d=True)
    wav = os.path.join(tmp, path.stem + ".wav")
    sf.write(wav, x, sr, subtype="PCM_16")
    n = x.size
    fl = os.path.join(tmp, "x.flac")
    subprocess.run(["flac", "-5", "-f", "-s", "-o", fl, wav], check=True)
    flac = os.path.getsize(fl)
    wv, wvd = os.path.join(tmp, "x.wv"), os.path.join(tmp, "x_wv.wav")
    subprocess.run(["wavpack", "-b3", "-q", "-y", wav, "-o", wv], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["wvunpack", "-q", "-y", wv, "-o", wvd], check=True, stdout=subprocess.DEVNULL)
    wv_bytes = os.path.getsize(wv)
    row = {"file": path.name, "seconds": len(x) / sr, "channels": x.shape[1], "samples": n, "flac": flac,
           "wv": wv_bytes, "wv_bits": wv_bytes * 8 / n, "wv_sqnr": _sqnr(x, sf.read(wvd, dtype="int16", always_2d=True)[0])}  # fmt: skip
    for key, settings in (("tqa", {}), ("time", {"profile": "time"})):
        out = os.path.join(tmp, f"x_{key}.tqa")
        audio.encode_file(wav, out, force=True, **settings)
        size = os.path.getsize(out)
        row.update({key: size, f"{key}_bits": size * 8 / n, f"{key}_sqnr": audio.measure_tqa(wav, out).sqnr_db})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, help="also write the table here (markdown)")
    a = ap.parse_args()
    files = sorted(p for p in a.corpus.iterdir() if p.suffix.lower() in AUDIO)
    if not files:
        sys.exit(f"{a.corpus}: no audio files")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tqa-default-rate-") as tmp:
        for p in files:
            rows.append(measure(p, tmp))
            print(f"{p.name}: done", file=sys.stderr)
    lines = [
        "| file | s | FLAC -5 bytes | WavPack -b3 b/s, SQNR | **default** (spectral2 3.0) size / FLAC | b/s | SQNR dB "
        "| time profile size / FLAC | b/s | SQNR dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['file']} | {r['seconds']:.1f} | {r['flac']:,} | {r['wv_bits']:.2f}, {r['wv_sqnr']:.1f} "
                     f"| **{r['tqa'] / r['flac']:.2f}** | {r['tqa_bits']:.3f} | {r['tqa_sqnr']:.1f} "
                     f"| {r['time'] / r['flac']:.2f} | {r['time_bits']:.3f} | {r['time_sqnr']:.1f} |")  # fmt: skip
    flac = sum(r["flac"] for r in rows)
    n = sum(r["samples"] for r in rows)

    def mean(k: str) -> float:
        return float(np.mean([r[k] for r in rows]))

    lines.append(f"| all ({len(rows)} files, sizes summed, SQNR mean) | {sum(r['seconds'] for r in rows):.1f} | {flac:,} "
                 f"| {sum(r['wv'] for r in rows) * 8 / n:.2f}, {mean('wv_sqnr'):.1f} "
                 f"| **{sum(r['tqa'] for r in rows) / flac:.2f}** | {sum(r['tqa'] for r in rows) * 8 / n:.3f} "
                 f"| {mean('tqa_sqnr'):.1f} | {sum(r['time'] for r in rows) / flac:.2f} "
                 f"| {sum(r['time'] for r in rows) * 8 / n:.3f} | {mean('time_sqnr'):.1f} |")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
