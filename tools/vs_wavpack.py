"""TQA's profile 'spectral2' (tqa.sv2 in the .tqa container) against WavPack's hybrid lossy mode, at equal bits/sample.

    python tools/vs_wavpack.py [CORPUS_DIR] [--extra a.wav b.flac ...] [--modes hh,default]
                               [--levels 2,3,4] [--perceptual] [--cache wavpack.json] [--out table.md]

For each file (16-bit source; anything soundfile reads, converted to 16-bit WAV first):

* WavPack: ``wavpack -bN -hh -x6 -s0`` (mode ``hh``, its SQNR-best setting) and plain ``wavpack -bN``
  (mode ``default``, noise shaping on) for N in ``--levels``; the real rate is the .wv file's
  size x 8 / (frames x channels); decoded with ``wvunpack``; SQNR against the 16-bit source.
* TQA at exactly that rate: ``tqa.encode(x, sr, profile="spectral2", rate=<WavPack's measured
  bits/sample>)``; its own rate is the whole .tqa stream's size (header, parameters, CRCs, frame
  index) x 8 / (frames x channels), shown as actual/requested; decoded to 16 bits; SQNR against
  the same source.
* ``--preecho``: attacks found in the source (128-sample blocks whose high-passed energy jumps 10x);
  per codec "n (e)": n attacks where the error RMS in the 10 ms before exceeds the signal RMS
  there, e the largest error RMS there in 16-bit LSBs.
* ``--perceptual``: Zimtohrli distance (lower is better) and ViSQOL v3 MOS-LQO (audio mode; higher is
  better), both on 48 kHz resamples, per channel, averaged.  Slow.

Times: WavPack as whole processes (``wavpack`` / ``wvunpack`` wall time); TQA in-process
(``tqa.encode`` / ``tqa.decode`` wall time, after reading the source).
The table is markdown; the summary gives mean and worst delta per (mode, level).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

AUDIO = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
MODES = {"hh": ["-hh", "-x6", "-s0"], "default": []}


def sqnr(ref: np.ndarray, test: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = np.sum((ref - test.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(ref**2) / err))


def wavpack(wav: str, level: int, mode: str, tmp: str) -> dict:
    wv, out = os.path.join(tmp, "x.wv"), os.path.join(tmp, "x_dec.wav")
    for p in (wv, out):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.perf_counter()
    subprocess.run(["wavpack", "-q", "-y", f"-b{level}", *MODES[mode], wav, "-o", wv], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    t1 = time.perf_counter()
    subprocess.run(["wvunpack", "-q", "-y", wv, "-o", out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t2 = time.perf_counter()
    ref, _ = sf.read(wav, dtype="int16", always_2d=True)
    dec, _ = sf.read(out, dtype="int16", always_2d=True)
    assert dec.shape == ref.shape, (dec.shape, ref.shape)
    bits = os.path.getsize(wv) * 8 / ref.size
    return {"bits": bits, "sqnr": sqnr(ref, dec), "enc_s": t1 - t0, "dec_s": t2 - t1, "dec_path": out}


def tqa_sv2(x16: np.ndarray, sample_rate: int, rate: float, frame_overhead: int, settings: dict) -> dict:
    """The shipped path: a complete .tqa stream of profile 'spectral2' (header, parameters, CRCs
    and frame index all counted in its size), decoded back to 16 bits."""
    import tqa

    t0 = time.perf_counter()
    data = tqa.encode(x16, sample_rate, profile="spectral2", rate=rate, **settings)
    t1 = time.perf_counter()
    dec, _ = tqa.decode(data, dtype="int16", always_2d=True)
    t2 = time.perf_counter()
    bits = len(data) * 8 / x16.size
    return {"bits": bits, "sqnr": sqnr(x16, dec), "enc_s": t1 - t0, "dec_s": t2 - t1, "dec": dec,
            "accuracy": bits / rate}  # fmt: skip


def _to48(x: np.ndarray, sr: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    x = x.astype(np.float64) / 32768.0
    if sr == 48000:
        return x
    g = gcd(48000, sr)
    return resample_poly(x, 48000 // g, sr // g, axis=0)


_VISQOL = None


def perceptual(ref16: np.ndarray, dec16: np.ndarray, sr: int) -> tuple[float, float]:
    global _VISQOL
    import zimtohrli

    r, d = _to48(ref16, sr), _to48(dec16, sr)
    z = float(np.mean([zimtohrli.Pyohrli().distance(r[:, c], d[:, c]) for c in range(r.shape[1])]))
    try:
        from visqol import VisqolApi

        if _VISQOL is None:
            _VISQOL = VisqolApi()
            _VISQOL.create(mode="audio")
        v = float(np.mean([_VISQOL.measure_from_arrays(r[:, c], d[:, c], 48000).moslqo for c in range(r.shape[1])]))
    except Exception as exc:  # pragma: no cover - report, don't die
        print(f"visqol failed: {exc}", file=sys.stderr)
        v = float("nan")
    return z, v


def onsets(x16: np.ndarray, sr: int, block: int = 128, ratio: float = 10.0) -> list[int]:
    """Attack onsets: 128-sample blocks whose high-passed energy jumps ``ratio`` x over the mean of
    the 8 before (and above ~4 LSBs), refined to the first sample 4x above the 10 ms before."""
    x = x16.astype(np.float64)
    n = x.shape[0] // block * block
    hp = np.diff(x[:n], axis=0, prepend=x[:1])
    e = np.sum(hp.reshape(-1, block, x.shape[1]) ** 2, axis=(1, 2)) / block
    cs = np.concatenate(([0.0], np.cumsum(e)))
    i = np.arange(e.size)
    lo = np.maximum(i - 8, 0)
    ref = (cs[i] - cs[lo]) / np.maximum(i - lo, 1)
    w = int(0.010 * sr)
    out = []
    for a in np.flatnonzero((e > ratio * ref) & (e > 16.0) & (i > 0)):
        s0 = int(a) * block
        if s0 < w:
            continue
        pre = np.sqrt(np.mean(x[s0 - w : s0] ** 2))
        k = np.flatnonzero(np.abs(x[s0 : s0 + block]).max(axis=1) > 4 * max(pre, 1.0))
        out.append(s0 + (int(k[0]) if k.size else 0))
    return out


def pre_echo(x16: np.ndarray, dec16: np.ndarray, sr: int, at: list[int]) -> tuple[int, float]:
    """(attacks where the error RMS in the 10 ms before exceeds the signal RMS there, the largest
    error RMS there in 16-bit LSBs)."""
    w = int(0.010 * sr)
    bad, worst = 0, 0.0
    for on in at:
        ref, dec = x16[on - w : on].astype(np.float64), dec16[on - w : on].astype(np.float64)
        sig, err = np.sqrt(np.mean(ref**2)), np.sqrt(np.mean((ref - dec) ** 2))
        bad += int(err > sig)
        worst = max(worst, float(err))
    return bad, worst


def files_of(corpus: str | None, extra: list[str]) -> list[pathlib.Path]:
    out = []
    if corpus:
        out += sorted(p for p in pathlib.Path(corpus).iterdir() if p.suffix.lower() in AUDIO)
    out += [pathlib.Path(e) for e in extra]
    return out


def _default_corpus() -> str | None:
    here = pathlib.Path(__file__).resolve().parents[1]
    for d in [here, *here.parents]:
        if (d / ".." / "shared" / "corpus").is_dir():
            return str((d / ".." / "shared" / "corpus").resolve())
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", nargs="?", default=_default_corpus(), help="default: ../shared/corpus (searched upwards)")
    ap.add_argument("--extra", nargs="*", default=[], help="more audio files")
    ap.add_argument("--levels", default="2,3,4")
    ap.add_argument("--modes", default="hh,default", help="comma list of: hh (-hh -x6 -s0), default (plain -bN)")
    ap.add_argument("--perceptual", action="store_true", help="Zimtohrli and ViSQOL columns (slow)")
    ap.add_argument("--preecho", action="store_true", help="pre-echo columns: attacks with error > signal in the 10 ms before")
    ap.add_argument("--frame-overhead", type=int, default=8, help="container bytes per frame counted in TQA's rate")
    ap.add_argument("--cache", default=None, help="JSON file caching WavPack results between runs")
    ap.add_argument("--set", action="append", default=[], help="sv2 setting key=value (repeatable)")
    ap.add_argument("--only", default=None, help="comma list of substrings: only files whose name holds one")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    settings = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        settings[k] = json.loads(v) if v[:1] in "0123456789-[{tfn\"" else v
    cache = {}
    if a.cache and os.path.exists(a.cache):
        cache = json.load(open(a.cache))
    levels = [int(v) for v in a.levels.split(",")]
    modes = a.modes.split(",")
    rows, lines = [], []
    perc = " WavPack Zimtohrli | TQA Zimtohrli | WavPack ViSQOL | TQA ViSQOL |" if a.perceptual else ""
    perc += " attacks | WavPack pre-echo | TQA pre-echo |" if a.preecho else ""
    head = ("| file | WavPack | rate b/s | TQA rate / requested | WavPack SQNR | TQA SQNR | delta dB |" + perc
            + " wv enc s | wv dec s | TQA enc s | TQA dec s |")  # fmt: skip
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    print(head, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in files_of(a.corpus, a.extra):
            if a.only and not any(o in path.name for o in a.only.split(",")):
                continue
            x16, sr = sf.read(str(path), dtype="int16", always_2d=True)
            wav = os.path.join(tmp, "src.wav")
            sf.write(wav, x16, sr, subtype="PCM_16")
            for mode in modes:
                for level in levels:
                    key = f"{path.name}|{x16.shape}|{mode}|{level}"
                    if key in cache and not a.perceptual and (not a.preecho or "pre" in cache[key]):
                        w = cache[key]
                    else:
                        w = wavpack(wav, level, mode, tmp)
                        wdec = sf.read(w.pop("dec_path"), dtype="int16", always_2d=True)[0]
                        if a.perceptual:
                            w["zim"], w["visqol"] = perceptual(x16, wdec, sr)
                        w["pre"] = pre_echo(x16, wdec, sr, onsets(x16, sr))
                        cache[key] = w
                    t = tqa_sv2(x16, sr, w["bits"], a.frame_overhead, settings)
                    d = t["sqnr"] - w["sqnr"]
                    label = f"-b{level} " + " ".join(MODES[mode])
                    cells = [path.name, label.strip(), f"{w['bits']:.3f}", f"{t['accuracy']:.4f}", f"{w['sqnr']:.2f}",
                             f"{t['sqnr']:.2f}", f"{d:+.2f}"]  # fmt: skip
                    if a.perceptual:
                        tz, tv = perceptual(x16, t["dec"], sr)
                        cells += [f"{w['zim']:.4f}", f"{tz:.4f}", f"{w['visqol']:.3f}", f"{tv:.3f}"]
                    if a.preecho:
                        at = onsets(x16, sr)
                        tb, tw = pre_echo(x16, t["dec"], sr, at)
                        wb, ww = w["pre"]
                        cells += [str(len(at)), f"{wb} ({ww:.1f})", f"{tb} ({tw:.1f})"]
                    cells += [f"{w['enc_s']:.3f}", f"{w['dec_s']:.3f}", f"{t['enc_s']:.3f}", f"{t['dec_s']:.3f}"]
                    line = "| " + " | ".join(cells) + " |"
                    print(line, flush=True)
                    lines.append(line)
                    rows.append((mode, level, d, t["accuracy"]))
    if a.cache:
        json.dump(cache, open(a.cache, "w"), indent=1)
    summary = ["", "| WavPack | files | mean delta dB | worst delta dB | worst rate accuracy |", "|---|---|---|---|---|"]
    for mode in modes:
        for level in levels:
            ds = [r[2] for r in rows if r[0] == mode and r[1] == level]
            acc = [r[3] for r in rows if r[0] == mode and r[1] == level]
            if ds:
                label = (f"-b{level} " + " ".join(MODES[mode])).strip()
                summary.append(f"| {label} | {len(ds)} | {np.mean(ds):+.2f} | {min(ds):+.2f} | {max(acc):.4f} |")
    ds = [r[2] for r in rows]
    if ds:
        summary.append(f"| all | {len(ds)} | {np.mean(ds):+.2f} | {min(ds):+.2f} | {max(r[3] for r in rows):.4f} |")
    print("\n".join(summary))
    lines += summary
    if a.out:
        pathlib.Path(a.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
