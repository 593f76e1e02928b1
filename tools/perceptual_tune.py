"""spectral2 ``tune="perceptual"`` (and ``tune="sqnr"``) against WavPack's default lossy mode, to the ear.

    python tools/perceptual_tune.py [CORPUS_DIR] [--files a.flac,b.flac] [--levels 2,3,4]
                                    [--tune perceptual,sqnr] [--seconds 10] [--no-visqol]
                                    [--cache wv.json] [--out table.md] [--set key=value ...]

For each file: the middle ``--seconds`` of it (whole files when shorter), 16-bit;
``wavpack -bN`` (default mode: noise shaping on) for N in ``--levels``, its real rate the .wv
size x 8 / (frames x channels); then ``tqa.encode(x, sr, profile="spectral2", rate=<that rate>,
tune=T)`` for each tune T, the whole .tqa stream counted.  Columns: bits/sample, SQNR against
the source, Zimtohrli distance (lower is better) and ViSQOL v3 MOS-LQO (higher is better), both
on 48 kHz resamples, per channel, averaged (tools/vs_wavpack.py's ``perceptual``).  The summary
counts the files where TQA's Zimtohrli is <= WavPack's and its ViSQOL >= WavPack's - 0.05
(issue 11's target).  ``--set`` passes codec settings of tqa.sv2 (mask, tmask, lmask, nf_zero,
nf_gain, nf_group, hop, ...) for experiments.  Slow (the metrics): use ``nice``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import vs_wavpack as vw  # noqa: E402


def excerpt(path: str, seconds: float) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="int16", always_2d=True)
    n = int(seconds * sr)
    if x.shape[0] > n:
        a = (x.shape[0] - n) // 2
        x = x[a : a + n]
    return x, sr


def metrics(x: np.ndarray, y: np.ndarray, sr: int, visqol: bool) -> dict:
    if visqol:
        z, v = vw.perceptual(x, y, sr)
        return {"zim": z, "visqol": v}
    import zimtohrli

    r, d = vw._to48(x, sr), vw._to48(y, sr)
    return {"zim": float(np.mean([zimtohrli.Pyohrli().distance(r[:, c], d[:, c]) for c in range(r.shape[1])]))}


def wavpack_row(path: str, x: np.ndarray, sr: int, level: int, visqol: bool, cache: dict, seconds: float) -> dict:
    key = f"{pathlib.Path(path).name}:{seconds}:{level}"
    if key in cache and ("visqol" in cache[key] or not visqol):
        return cache[key]
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "s.wav")
        sf.write(wav, x, sr, subtype="PCM_16")
        w = vw.wavpack(wav, level, "default", tmp)
        dec, _ = sf.read(w["dec_path"], dtype="int16", always_2d=True)
        row = {"bits": w["bits"], "sqnr": w["sqnr"], **metrics(x, dec, sr, visqol)}
    cache[key] = row
    return row


def tqa_row(x: np.ndarray, sr: int, rate: float, tune: str, extra: dict, visqol: bool) -> dict:
    import tqa
    from tqa import sv2

    orig = sv2.Encoder
    if extra:  # codec settings the profile does not expose (experiments)
        class Patched(orig):
            def __init__(self, channels, tmpdir=None, **settings):
                super().__init__(channels, tmpdir, **{**settings, **extra})

        sv2.Encoder = Patched
    try:
        data = tqa.encode(x, sr, profile="spectral2", rate=rate, tune=tune)
    finally:
        sv2.Encoder = orig
    y, _ = tqa.decode(data, dtype="int16", always_2d=True)
    return {"bits": len(data) * 8 / x.size, "sqnr": vw.sqnr(x, y), **metrics(x, y, sr, visqol)}


def _value(s: str):
    try:
        return json.loads(s)
    except ValueError:
        return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=vw._default_corpus())
    ap.add_argument("--files", default=None, help="comma-separated names inside the corpus (default: all)")
    ap.add_argument("--levels", default="2,3,4")
    ap.add_argument("--tune", default="perceptual,sqnr")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-visqol", action="store_true", help="Zimtohrli only (faster)")
    ap.add_argument("--cache", default=None, help="JSON file of WavPack rows (reused across runs)")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="tqa.sv2 setting (experiments)")
    a = ap.parse_args(argv)
    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in a.set)}
    files = [pathlib.Path(a.corpus) / f for f in a.files.split(",")] if a.files else vw.files_of(a.corpus, [])
    tunes = a.tune.split(",")
    levels = [int(v) for v in a.levels.split(",")]
    visqol = not a.no_visqol
    cache = json.loads(pathlib.Path(a.cache).read_text()) if a.cache and os.path.exists(a.cache) else {}
    head = "| file | -bN | WavPack b/s | WavPack SQNR | WavPack Zimtohrli | WavPack ViSQOL |"
    sep = "|---|---|---|---|---|---|"
    for t in tunes:
        head += f" {t} b/s | {t} SQNR | {t} Zimtohrli | {t} ViSQOL |"
        sep += "---|---|---|---|"
    lines = [head, sep]
    print(head, flush=True)
    wins = {t: [0, 0, 0] for t in tunes}  # zim <=, visqol >= -0.05, cases
    ratios: dict = {t: [] for t in tunes}
    fmt = lambda v: "–" if v is None or v != v else f"{v:.3g}"  # noqa: E731
    for path in files:
        x, sr = excerpt(str(path), a.seconds)
        for L in levels:
            w = wavpack_row(str(path), x, sr, L, visqol, cache, a.seconds)
            if a.cache:
                pathlib.Path(a.cache).write_text(json.dumps(cache))
            line = f"| {path.name} | {L} | {w['bits']:.3f} | {w['sqnr']:.1f} | {fmt(w['zim'])} | {fmt(w.get('visqol'))} |"
            for t in tunes:
                r = tqa_row(x, sr, w["bits"], t, extra, visqol)
                line += f" {r['bits']:.3f} | {r['sqnr']:.1f} | {fmt(r['zim'])} | {fmt(r.get('visqol'))} |"
                wins[t][0] += r["zim"] <= w["zim"]
                wins[t][1] += (r.get("visqol", 0) >= w.get("visqol", 0) - 0.05) if visqol else 0
                wins[t][2] += 1
                ratios[t].append(r["zim"] / w["zim"])
            print(line, flush=True)
            lines.append(line)
    lines.append("")
    for t in tunes:
        n = wins[t][2]
        s = (f"tune={t}: Zimtohrli <= WavPack on {wins[t][0]}/{n}"
             + (f", ViSQOL >= WavPack - 0.05 on {wins[t][1]}/{n}" if visqol else "")
             + f"; Zimtohrli TQA/WavPack geometric mean {np.exp(np.mean(np.log(ratios[t]))):.3f}")  # fmt: skip
        print(s)
        lines.append(s + "  ")
    if extra:
        lines.append(f"settings: {extra}")
    if a.out:
        pathlib.Path(a.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
