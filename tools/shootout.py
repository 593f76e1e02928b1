"""Codec shoot-out: TQA and the reference codecs on PATH, in one run, on the same files.

    python tools/shootout.py ../shared/corpus [--out table.md] [--tqa 2,4,6,8] [--perceptual]

Each input is first written as 16-bit WAV (the reference point for every codec).
Then, as whole processes timed from the shell's point of view:

* TQA: ``tqa encode`` / ``tqa decode`` at bits from ``--tqa`` x residual none/sign/qjl, the
  spectral profile at ``--spectral`` rates (and ``--quality``), spectral2 at ``--spectral2`` rates;
* ``flac -5`` (lossless reference), sox IMA-ADPCM, MS-ADPCM and µ-law (8-bit),
  ``opusenc`` at 64 and 128 kbps, ``lame`` at 128 and 192 kbps — each only if its
  tool is on PATH (missing ones are listed, not an error);
* WavPack's hybrid lossy mode, ``wavpack -b2/-b3/-b4`` with default settings and with
  ``-hh -x6 -s0`` (its SQNR-best setting), decoded with ``wvunpack``;
* LC3 (``elc3``/``dlc3``, liblc3) at 2, 3 and 4 bits/sample.  LC3 takes 8–48 kHz only, so
  its rows start from the source resampled to 48 kHz by sox (``rate -v``, 16 bits) and are
  **measured against that resampled reference**; their bits/sample count 48 kHz samples.

With ``--perceptual`` (needs ``pip install 'tqa[perceptual]'``) the table gains the mean
Zimtohrli distance (lower is better) and ViSQOL v3 MOS-LQO (audio mode, 1–5, higher is
better), both at 48 kHz (see tqa/perceptual.py), for the rows matching
``--perceptual-only`` (a regular expression; default: every row) on the files matching
``--perceptual-files`` (default: all).  ``--only`` keeps just the matching rows.

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
import re
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


LC3_RATE = 48000


def _lc3_bitrate(bits_per_sample: float):
    """elc3's -b (total bits/s over all channels) for ``bits_per_sample`` at 48 kHz."""
    return lambda ctx: str(int(round(bits_per_sample * LC3_RATE * ctx["channels"])))


def codecs(tqa_bits: list[int], spectral_rates: list[float] = (), quality: list[float] = (),
           spectral2_rates: list[float] = ()) -> tuple[list[tuple], list[str]]:
    """(name, encode cmd, decode cmd, compressed suffix, reference rate) for what is installed.

    Command arguments are templates ({src}, {cmp}, {dec}, {rate}, {channels}) or callables of that
    context; reference rate None means the 16-bit source itself, else the source resampled by sox.
    """
    tqa = shutil.which("tqa")
    out, missing = [], []
    if tqa:
        for b in tqa_bits:
            for r in ("none", "sign", "qjl"):
                out.append((f"TQA {b} bits + {r}", [tqa, "encode", "{src}", "{cmp}", "--bits", str(b), "--residual", r, "--quiet", "--force"],
                            [tqa, "decode", "{cmp}", "{dec}", "--quiet", "--force"], ".tqa"))  # fmt: skip
        for rate in spectral_rates:
            out.append((f"TQA spectral {rate:g} bits/sample", [tqa, "encode", "{src}", "{cmp}", "--profile", "spectral", "--rate", str(rate), "--quiet", "--force"],
                        [tqa, "decode", "{cmp}", "{dec}", "--quiet", "--force"], ".tqa"))  # fmt: skip
        for rate in spectral2_rates:
            out.append((f"TQA spectral2 {rate:g} bits/sample", [tqa, "encode", "{src}", "{cmp}", "--profile", "spectral2", "--rate", str(rate), "--quiet", "--force"],
                        [tqa, "decode", "{cmp}", "{dec}", "--quiet", "--force"], ".tqa"))  # fmt: skip
        for q in quality:
            out.append((f"TQA spectral --quality {q:g}", [tqa, "encode", "{src}", "{cmp}", "--profile", "spectral", "--quality", str(q), "--quiet", "--force"],
                        [tqa, "decode", "{cmp}", "{dec}", "--quiet", "--force"], ".tqa"))  # fmt: skip
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
    if shutil.which("wavpack") and shutil.which("wvunpack"):
        for extra, label in (([], ""), (["-hh", "-x6", "-s0"], " -hh -x6 -s0")):
            for b in (2, 3, 4):
                out.append((f"WavPack -b{b}{label}", ["wavpack", "-q", "-y", f"-b{b}", *extra, "{src}", "-o", "{cmp}"],
                            ["wvunpack", "-q", "-y", "{cmp}", "-o", "{dec}"], ".wv"))  # fmt: skip
    else:
        missing.append("wavpack/wvunpack")
    if shutil.which("elc3") and shutil.which("dlc3") and shutil.which("sox"):
        for b in (2, 3, 4):
            out.append((f"LC3 {b} bits/sample (48 kHz)", ["elc3", "-b", _lc3_bitrate(b), "{src}", "{cmp}"],
                        ["dlc3", "{cmp}", "{dec}"], ".lc3", LC3_RATE))  # fmt: skip
    else:
        missing.append("elc3/dlc3 (liblc3-tools)")
    return [row if len(row) == 5 else (*row, None) for row in out], missing


def _resampled(src: str, tmp: str, rate: int, cache: dict) -> tuple[str, np.ndarray]:
    """The source as 16-bit WAV at ``rate`` (sox, very high quality), and its samples as float."""
    if rate not in cache:
        path = os.path.join(tmp, f"src{rate}.wav")
        subprocess.run(["sox", src, "-b", "16", path, "rate", "-v", str(rate)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        cache[rate] = (path, sf.read(path, dtype="int16", always_2d=True)[0] / 32768.0)
    return cache[rate]


def measure(files: list[pathlib.Path], table: list[tuple], perceptual: re.Pattern | None = None,
            perceptual_files: re.Pattern | None = None) -> dict[str, dict[str, list]]:
    """Run every codec of ``table`` on every file: per codec, lists of per-file figures.

    ``perceptual``: rows whose name matches also get Zimtohrli ("zim") and ViSQOL ("vis") per
    file (on the files whose name matches ``perceptual_files``, all when None; "pfile" names them).
    """
    keys = ("file", "bps", "snr", "seg", "enc", "dec", "encr", "decr", "dur", "pfile", "zim", "vis")
    stats: dict[str, dict[str, list]] = {name: {k: [] for k in keys} for name, *_ in table}
    if perceptual is not None:
        from tqa import perceptual as _perc
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            x, rate = sf.read(str(f), dtype="int16", always_2d=True)
            src = os.path.join(tmp, "src.wav")
            sf.write(src, x, rate, subtype="PCM_16")
            ref = x / 32768.0
            dur = len(x) / rate
            flac_times = None
            results = {}
            cache: dict = {}
            for name, enc, dec, suffix, ref_rate in table:
                cmp_, out = os.path.join(tmp, "c" + suffix), os.path.join(tmp, "d.wav")
                for stale in (cmp_, out):  # never measure the previous codec's output
                    if os.path.exists(stale):
                        os.remove(stale)
                try:
                    src_c, ref_c, rate_c = src, ref, rate
                    if ref_rate is not None and ref_rate != rate:
                        src_c, ref_c = _resampled(src, tmp, ref_rate, cache)
                        rate_c = ref_rate
                    ctx = dict(src=src_c, cmp=cmp_, dec=out, rate=rate_c, channels=x.shape[1])
                    sub = lambda c: [a(ctx) if callable(a) else a.format(**ctx) for a in c]  # noqa: E731,B023
                    te, td = _run(sub(enc)), _run(sub(dec))
                    y = align(ref_c, _read(out, rate_c, x.shape[1]))
                except (subprocess.CalledProcessError, RuntimeError) as exc:
                    print(f"{f.name}: {name} failed: {exc}", file=sys.stderr)
                    continue
                bps = os.path.getsize(cmp_) * 8 / ref_c.size
                zim = vis = None
                if perceptual is not None and perceptual.search(name) and (perceptual_files is None or perceptual_files.search(f.name)):
                    zim = _perc.zimtohrli_distance(ref_c, y, rate_c)
                    vis = _perc.visqol_mos(ref_c, y, rate_c)
                results[name] = (bps, sqnr_db(ref_c, y), segmental_snr_db(ref_c, y, rate_c)[0], te, td, zim, vis)
                if name.startswith("FLAC"):
                    flac_times = (te, td)
            for name, (bps, snr, seg, te, td, zim, vis) in results.items():
                s = stats[name]
                for k, v in zip(("file", "bps", "snr", "seg", "enc", "dec", "dur"), (f.stem, bps, snr, seg, te, td, dur)):
                    s[k].append(v)
                if zim is not None:
                    s["pfile"].append(f.stem)
                    s["zim"].append(zim)
                    s["vis"].append(vis)
                if flac_times:
                    s["encr"].append(te / flac_times[0])
                    s["decr"].append(td / flac_times[1])
            print(f"done: {f.name}", file=sys.stderr, flush=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--tqa", default="2,4,6,8", help="TQA bit depths to run (each with none/sign/qjl)")
    ap.add_argument("--spectral", default="2,3.2,4,6", help="spectral-profile rates (bits/sample) to run")
    ap.add_argument("--quality", default="40", help="spectral-profile --quality targets (dB) to run")
    ap.add_argument("--spectral2", default="2,3,4", help="spectral2-profile rates (bits/sample) to run")
    ap.add_argument("--only", metavar="REGEX", help="run only the codec rows whose name matches")
    ap.add_argument("--perceptual", action="store_true", help="add Zimtohrli and ViSQOL columns (tqa[perceptual])")
    ap.add_argument("--perceptual-only", metavar="REGEX", default="", help="perceptual columns only for these rows")
    ap.add_argument("--perceptual-files", metavar="REGEX", help="perceptual columns only on these files")
    ap.add_argument("--json-out", metavar="FILE", help="also write every per-file figure as JSON (per codec: lists by file)")
    ap.add_argument("--per-file", action="store_true", help="also print per-file SQNR (and perceptual) tables")
    args = ap.parse_args(argv)
    files = sorted(p for p in pathlib.Path(args.folder).iterdir() if p.suffix.lower() in AUDIO)
    if not files:
        print(f"no audio files in {args.folder}", file=sys.stderr)
        return 2
    table, missing = codecs([int(b) for b in args.tqa.split(",") if b], [float(r) for r in args.spectral.split(",") if r],
                            [float(q) for q in args.quality.split(",") if q], [float(r) for r in args.spectral2.split(",") if r])  # fmt: skip
    if args.only:
        table = [row for row in table if re.search(args.only, row[0])]
    perc = pfiles = None
    if args.perceptual:
        from tqa import perceptual

        if len(perceptual.available()) < 2:
            print(f"--perceptual: {perceptual.HINT}", file=sys.stderr)
            return 2
        perc = re.compile(args.perceptual_only)
        pfiles = re.compile(args.perceptual_files) if args.perceptual_files else None
    stats = measure(files, table, perc, pfiles)
    head = "| codec | bits/sample | SQNR dB (mean / min) | segSNR dB | encode x RT | decode x RT | encode / flac | decode / flac |"
    if perc is not None:
        head += " Zimtohrli (mean, lower is better) | ViSQOL MOS-LQO (mean) |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, *_ in table:
        s = stats[name]
        if not s["bps"]:
            continue
        snr = np.array(s["snr"])
        snr_txt = "lossless" if np.all(np.isinf(snr)) else f"{np.mean(snr):.1f} / {np.min(snr):.1f}"
        seg = np.array(s["seg"])
        dur = sum(s["dur"])
        ratio = lambda v: f"{np.mean(v):.2f}" if v else "–"  # noqa: E731
        row = (
            f"| {name} | {np.mean(s['bps']):.2f} | {snr_txt} | {np.mean(seg):.1f} | {dur / sum(s['enc']):.0f} | "
            f"{dur / sum(s['dec']):.0f} | {ratio(s['encr'])} | {ratio(s['decr'])} |"
        )
        if perc is not None:
            row += f" {np.mean(s['zim']):.4g} | {np.mean(s['vis']):.2f} |" if s["zim"] else " – | – |"
        lines.append(row)
    text = "\n".join(lines)
    print(text)
    note = f"\n{len(files)} files, {max((sum(s['dur']) for s in stats.values()), default=0):.0f} s of audio."
    short = [f"{name} ({len(stats[name]['bps'])})" for name, *_ in table if len(stats[name]["bps"]) < len(files)]
    if short:
        note += " Rows with failures on some files (mean over the files that worked): " + ", ".join(short) + "."
    if perc is not None:
        pf = [f.name for f in files if pfiles is None or pfiles.search(f.name)]
        note += f" Perceptual columns on {len(pf)} file(s): {', '.join(pf)}."
    if missing:
        note += " Not on PATH (skipped): " + ", ".join(missing) + "."
    print(note)
    per_file = _per_file_tables(files, table, stats, perc is not None) if args.per_file else ""
    if per_file:
        print(per_file)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n" + note + "\n" + (f"\n{per_file}\n" if per_file else ""))
    if args.json_out:
        import json

        doc = {name: {k: [None if isinstance(v, float) and not np.isfinite(v) else v for v in vals]
                      for k, vals in stats[name].items()} for name, *_ in table}  # fmt: skip
        pathlib.Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def _per_file_tables(files: list[pathlib.Path], table: list[tuple], stats: dict, perceptual: bool) -> str:
    """Markdown tables, file by codec: SQNR, and Zimtohrli / ViSQOL where computed."""
    names = [name for name, *_ in table if stats[name]["bps"]]
    out = []
    for key, title, fmt in (("snr", "SQNR dB", "{:.2f}"), ("zim", "Zimtohrli distance", "{:.3g}"), ("vis", "ViSQOL MOS-LQO", "{:.2f}")):
        if key != "snr" and not perceptual:
            continue
        cols = [n for n in names if stats[n][key]]
        if not cols:
            continue
        out.append(f"{title} per file\n\n| file | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
        for f in files:
            cells = []
            for n in cols:
                s = stats[n]
                # perceptual lists hold only the files they were computed on: map them by name
                vals = dict(zip(s["file"] if key == "snr" else s["pfile"], s[key]))
                v = vals.get(f.stem)
                cells.append("–" if v is None else ("inf" if v == float("inf") else fmt.format(v)))
            out[-1] += f"\n| {f.stem} | " + " | ".join(cells) + " |"
    return "\n\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
