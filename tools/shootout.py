"""Codec shoot-out: TQA and the reference codecs on PATH, in one run, on the same files.

    python tools/shootout.py ../shared/corpus [--out table.md] [--tqa 2,4,6,8]

Each input is first written as 16-bit WAV (the reference point for every codec).
Then, as whole processes timed from the shell's point of view:

* TQA: ``tqa encode`` / ``tqa decode`` at bits from ``--tqa`` x residual none/sign/qjl;
* ``flac -5`` (lossless reference), sox IMA-ADPCM, MS-ADPCM and µ-law (8-bit),
  ``opusenc`` at 64 and 128 kbps, ``lame`` at 128 and 192 kbps — each only if its
  tool is on PATH (missing ones are listed, not an error).

Decoded audio is aligned to the source before measuring (Opus and MP3 add encoder
and decoder delay): the lag in +-4096 samples with the highest cross-correlation.
bits/sample = compressed file size x 8 / (frames x channels).  SQNR and segmental
SNR (20 ms segments, clipped to [-10, 60] dB) against the 16-bit source; speed as
x real time and as the ratio of wall time to flac's on the same file.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from tqa.metrics import segmental_snr_db, sqnr_db

AUDIO = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def _run(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _read(path: str, rate: int, channels: int) -> np.ndarray:
    y, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != rate or y.shape[1] != channels:
        raise RuntimeError(f"{path}: decoded as {sr} Hz x {y.shape[1]} ch")
    return y


def align(ref: np.ndarray, y: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``y`` shifted by the lag (0..max_lag, either way) that best matches ``ref``."""
    a, b = ref.mean(axis=1), y.mean(axis=1)
    n = min(len(a), len(b), 1 << 18)
    fa, fb = np.fft.rfft(a[:n], 2 * n), np.fft.rfft(b[:n], 2 * n)
    xc = np.fft.irfft(fb * np.conj(fa))
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(xc[lags])])
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros((-lag, y.shape[1])), y])
    out = np.zeros_like(ref)
    m = min(len(out), len(y))
    out[:m] = y[:m]
    return out


def codecs(tqa_bits: list[int], spectral_rates: list[float] = (), quality: list[float] = ()) -> tuple[list[tuple], list[str]]:
    """(name, encode cmd, decode cmd, compressed suffix) for what is installed."""
    tqa = shutil.which("tqa")
    out, missing = [], []
    if tqa:
        for b in tqa_bits:
            for r in ("none", "sign", "qjl"):
                out.append((f"TQA {b} bits + {r}", [tqa, "encode", "{src}", "{cmp}", "--bits", str(b), "--residual", r, "--quiet"],
                            [tqa, "decode", "{cmp}", "{dec}", "--quiet"], ".tqa"))  # fmt: skip
        for rate in spectral_rates:
            out.append((f"TQA spectral {rate:g} bits/sample", [tqa, "encode", "{src}", "{cmp}", "--profile", "spectral", "--rate", str(rate), "--quiet"],
                        [tqa, "decode", "{cmp}", "{dec}", "--quiet"], ".tqa"))  # fmt: skip
        for q in quality:
            out.append((f"TQA spectral --quality {q:g}", [tqa, "encode", "{src}", "{cmp}", "--profile", "spectral", "--quality", str(q), "--quiet"],
                        [tqa, "decode", "{cmp}", "{dec}", "--quiet"], ".tqa"))  # fmt: skip
    else:
        missing.append("tqa (pip install .)")
    if shutil.which("flac"):
        out.append(("FLAC -5 (lossless)", ["flac", "-5", "-f", "-s", "{src}", "-o", "{cmp}"], ["flac", "-d", "-f", "-s", "{cmp}", "-o", "{dec}"], ".flac"))
    else:
        missing.append("flac")
    if shutil.which("sox"):
        for name, enc in (("IMA-ADPCM (sox)", "ima-adpcm"), ("MS-ADPCM (sox)", "ms-adpcm"), ("µ-law 8-bit (sox)", "u-law")):
            out.append((name, ["sox", "{src}", "-e", enc, "{cmp}"], ["sox", "{cmp}", "-e", "signed-integer", "-b", "16", "{dec}"], ".wav"))
    else:
        missing.append("sox")
    if shutil.which("opusenc") and shutil.which("opusdec"):
        for kbps in (64, 128):
            out.append((f"Opus {kbps} kbps", ["opusenc", "--quiet", "--bitrate", str(kbps), "{src}", "{cmp}"],
                        ["opusdec", "--quiet", "--rate", "{rate}", "{cmp}", "{dec}"], ".opus"))  # fmt: skip
    else:
        missing.append("opusenc/opusdec")
    if shutil.which("lame"):
        for kbps in (128, 192):
            out.append((f"MP3 {kbps} kbps (lame)", ["lame", "--quiet", "-b", str(kbps), "{src}", "{cmp}"],
                        ["lame", "--quiet", "--decode", "{cmp}", "{dec}"], ".mp3"))  # fmt: skip
    else:
        missing.append("lame")
    return out, missing


def measure(files: list[pathlib.Path], table: list[tuple]) -> dict[str, dict[str, list]]:
    """Run every codec of ``table`` on every file: per codec, lists of per-file figures."""
    stats: dict[str, dict[str, list]] = {
        name: {k: [] for k in ("file", "bps", "snr", "seg", "enc", "dec", "encr", "decr", "dur")} for name, *_ in table
    }
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            x, rate = sf.read(str(f), dtype="int16", always_2d=True)
            src = os.path.join(tmp, "src.wav")
            sf.write(src, x, rate, subtype="PCM_16")
            ref = x / 32768.0
            dur = len(x) / rate
            flac_times = None
            results = {}
            for name, enc, dec, suffix in table:
                cmp_, out = os.path.join(tmp, "c" + suffix), os.path.join(tmp, "d.wav")
                sub = lambda c: [a.format(src=src, cmp=cmp_, dec=out, rate=rate) for a in c]  # noqa: E731,B023
                try:
                    te, td = _run(sub(enc)), _run(sub(dec))
                    y = align(ref, _read(out, rate, x.shape[1]))
                except (subprocess.CalledProcessError, RuntimeError) as exc:
                    print(f"{f.name}: {name} failed: {exc}", file=sys.stderr)
                    continue
                bps = os.path.getsize(cmp_) * 8 / x.size
                results[name] = (bps, sqnr_db(ref, y), segmental_snr_db(ref, y, rate)[0], te, td)
                if name.startswith("FLAC"):
                    flac_times = (te, td)
            for name, (bps, snr, seg, te, td) in results.items():
                s = stats[name]
                for k, v in zip(("file", "bps", "snr", "seg", "enc", "dec", "dur"), (f.stem, bps, snr, seg, te, td, dur)):
                    s[k].append(v)
                if flac_times:
                    s["encr"].append(te / flac_times[0])
                    s["decr"].append(td / flac_times[1])
            print(f"done: {f.name}", file=sys.stderr)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--tqa", default="2,4,6,8", help="TQA bit depths to run (each with none/sign/qjl)")
    ap.add_argument("--spectral", default="2,3.2,4,6", help="spectral-profile rates (bits/sample) to run")
    ap.add_argument("--quality", default="40", help="spectral-profile --quality targets (dB) to run")
    args = ap.parse_args(argv)
    files = sorted(p for p in pathlib.Path(args.folder).iterdir() if p.suffix.lower() in AUDIO)
    if not files:
        print(f"no audio files in {args.folder}", file=sys.stderr)
        return 2
    table, missing = codecs([int(b) for b in args.tqa.split(",") if b], [float(r) for r in args.spectral.split(",") if r],
                            [float(q) for q in args.quality.split(",") if q])  # fmt: skip
    stats = measure(files, table)
    lines = [
        "| codec | bits/sample | SQNR dB (mean / min) | segSNR dB | encode x RT | decode x RT | encode / flac | decode / flac |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, *_ in table:
        s = stats[name]
        if not s["bps"]:
            continue
        snr = np.array(s["snr"])
        snr_txt = "lossless" if np.all(np.isinf(snr)) else f"{np.mean(snr):.1f} / {np.min(snr):.1f}"
        seg = np.array(s["seg"])
        dur = sum(s["dur"])
        ratio = lambda v: f"{np.mean(v):.2f}" if v else "–"  # noqa: E731
        lines.append(
            f"| {name} | {np.mean(s['bps']):.2f} | {snr_txt} | {np.mean(seg):.1f} | {dur / sum(s['enc']):.0f} | "
            f"{dur / sum(s['dec']):.0f} | {ratio(s['encr'])} | {ratio(s['decr'])} |"
        )
    text = "\n".join(lines)
    print(text)
    note = f"\n{len(files)} files, {sum(stats[table[0][0]]['dur']) if table else 0:.0f} s of audio."
    if missing:
        note += " Not on PATH (skipped): " + ", ".join(missing) + "."
    print(note)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n" + note + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
