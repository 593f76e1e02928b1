"""Rate–distortion plot and per-file gains: TQA's two profiles against the reference codecs.

    pip install '.[plot]'
    python tools/rd_plot.py ../shared/corpus --out docs/rd.png
    python tools/rd_plot.py ../shared/corpus --wavpack --out docs/rd_wavpack.png

Runs (through tools/shootout.py, in one run on the same 16-bit WAVs) the time-domain
profile at 2–8 bits + sign, the spectral profile at 1.5–6 bits/sample, and every
reference codec on PATH; QOA (not installable here) is read from the folder's
``reference_codecs.md`` when it has one.  Plots mean SQNR against mean bits/sample,
and prints per file the spectral profile's gain over QOA at 3.2 bits/sample and
over MS-ADPCM at 4.

``--wavpack`` instead draws TQA's profiles (time, spectral, spectral2) against WavPack's hybrid lossy mode
(``wavpack -b2 … -b6``, default settings and ``-hh -x6 -s0``), rate against SQNR, and
prints per file the spectral and spectral2 profiles' SQNR minus WavPack ``-hh -x6 -s0``'s,
at WavPack's actual rate (TQA's SQNR interpolated linearly in rate between its points).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import shootout  # noqa: E402

RATES = [1.5, 2, 2.5, 3.2, 4, 5, 6]
WAVPACK_BITS = [2, 2.5, 3, 3.5, 4, 5, 6]


def _save(fig, ax, title: str, out: str) -> None:
    """Axes labels, grid and legend of both plots; the figure written to ``out``."""
    ax.set(xlabel="bits per sample (all side info included)", ylabel="SQNR, dB (mean over files)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def wavpack_rows() -> list[tuple]:
    """WavPack -bN rows (default, and -hh -x6 -s0) in shootout's table format."""
    rows = []
    for extra, label in (([], ""), (["-hh", "-x6", "-s0"], " -hh -x6 -s0")):
        for b in WAVPACK_BITS:
            rows.append((f"WavPack -b{b:g}{label}", ["wavpack", "-q", "-y", f"-b{b:g}", *extra, "{src}", "-o", "{cmp}"],
                         ["wvunpack", "-q", "-y", "{cmp}", "-o", "{dec}"], ".wv", None))  # fmt: skip
    return rows


def wavpack_plot(args, files, folder) -> int:
    table, missing = shootout.codecs([2, 3, 4, 5, 6, 7, 8], RATES, spectral2_rates=RATES)
    table = [r for r in table if r[0].startswith("TQA ") and "+ none" not in r[0] and "+ qjl" not in r[0]]
    if "wavpack/wvunpack" in missing:
        print("this plot needs wavpack and wvunpack on PATH", file=sys.stderr)
        return 2
    table += wavpack_rows()
    stats = shootout.measure(files, table)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("this tool needs matplotlib: pip install '.[plot]'", file=sys.stderr)
        return 2

    def curve(pred):
        # a row whose SQNR is infinite on some file (decoded exactly) has an infinite mean: not drawn
        for n, *_ in table:
            if pred(n) and stats[n]["bps"] and not np.isfinite(np.mean(stats[n]["snr"])):
                print(f"not drawn (SQNR inf on some file): {n}", file=sys.stderr)
        return sorted((np.mean(stats[n]["bps"]), np.mean(stats[n]["snr"])) for n, *_ in table if pred(n) and stats[n]["bps"])

    curves = [
        ("TQA spectral2 profile (--rate)", "D-", lambda n: n.startswith("TQA spectral2")),
        ("TQA spectral profile (--rate)", "o-", lambda n: n.startswith("TQA spectral ")),
        ("TQA time-domain profile (--bits N + sign)", "s--", lambda n: n.startswith("TQA ") and "spectral" not in n),
        ("WavPack -bN (default)", "^-", lambda n: n.startswith("WavPack") and "-hh" not in n),
        ("WavPack -bN -hh -x6 -s0", "v-", lambda n: n.startswith("WavPack") and "-hh" in n),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for label, style, pred in curves:
        pts = curve(pred)
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    ax.set_xlim(1, 9.5)
    _save(fig, ax, f"TQA vs WavPack lossy on {folder.name} ({len(files)} files)", args.out)

    # per file: TQA SQNR interpolated to WavPack -hh's actual rate, minus WavPack's SQNR there
    for prefix in ("TQA spectral2", "TQA spectral "):
        print(f"\n{prefix.strip()}\n\n| file | " + " | ".join(f"-b{b:g} -hh: b/s, WavPack dB, {prefix.strip()[4:]} dB, gain" for b in (2, 3, 4)) + " |")
        print("|---|" + "---|" * 3)
        gains = {b: [] for b in (2, 3, 4)}
        for f in [p.stem for p in files]:
            sp = sorted((stats[n]["bps"][i], stats[n]["snr"][i]) for n, *_ in table if n.startswith(prefix)
                        for i in [stats[n]["file"].index(f)] if f in stats[n]["file"])  # fmt: skip
            cells = [f]
            for b in (2, 3, 4):
                s = stats[f"WavPack -b{b} -hh -x6 -s0"]
                if f not in s["file"] or len(sp) < 2:
                    cells.append("–")
                    continue
                i = s["file"].index(f)
                rate, wv = s["bps"][i], s["snr"][i]
                tq = float(np.interp(rate, [p[0] for p in sp], [p[1] for p in sp]))
                gains[b].append(tq - wv)
                cells.append(f"{rate:.2f}, {wv:.2f}, {tq:.2f}, {tq - wv:+.2f}")
            print("| " + " | ".join(cells) + " |")
        print("| mean gain | " + " | ".join(f"{np.mean(g):+.2f}" if g else "–" for g in gains.values()) + " |")
    return 0


def qoa_reference(folder: pathlib.Path) -> dict[str, tuple[float, float]]:
    """file stem -> (QOA bits/sample, QOA SQNR) from reference_codecs.md, if present."""
    path = folder / "reference_codecs.md"
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and re.match(r"^\S+\.(flac|wav)$", cells[0]):
                out[pathlib.Path(cells[0]).stem] = (float(cells[2]), float(cells[3]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--out", default="rd.png")
    ap.add_argument("--wavpack", action="store_true", help="TQA's profiles against WavPack's lossy mode instead")
    args = ap.parse_args()
    folder = pathlib.Path(args.folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in shootout.AUDIO)
    if args.wavpack:
        return wavpack_plot(args, files, folder)
    table, missing = shootout.codecs([2, 3, 4, 5, 6, 7, 8], RATES)
    table = [row for row in table if not (row[0].startswith("TQA ") and ("+ none" in row[0] or "+ qjl" in row[0]))]
    stats = shootout.measure(files, table)
    qoa = qoa_reference(folder)

    def mean_point(name):
        s = stats[name]
        return (np.mean(s["bps"]), np.mean(s["snr"])) if s["bps"] else None

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("this tool needs matplotlib: pip install '.[plot]'", file=sys.stderr)
        return 2
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for prefix, label, style in (("TQA spectral", "TQA spectral profile", "o-"), ("TQA ", "TQA time-domain profile (+ sign)", "s--")):
        pts = sorted(p for name, *_ in table if name.startswith(prefix) and (prefix != "TQA " or "spectral" not in name)
                     for p in [mean_point(name)] if p)  # fmt: skip
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    for name, *_ in table:
        if not name.startswith("TQA") and not name.startswith("FLAC"):
            p = mean_point(name)
            if p:
                ax.plot(*p, "^", label=name)
    if qoa:
        ax.plot(np.mean([v[0] for v in qoa.values()]), np.mean([v[1] for v in qoa.values()]), "D", color="k",
                label="QOA (reference_codecs.md)")  # fmt: skip
    _save(fig, ax, f"Rate–distortion on {folder.name} ({len(files)} files)", args.out)

    per = {name: dict(zip(stats[name]["file"], stats[name]["snr"])) for name, *_ in table}
    sp32, sp4, sp2 = per.get("TQA spectral 3.2 bits/sample", {}), per.get("TQA spectral 4 bits/sample", {}), per.get("TQA spectral 2 bits/sample", {})
    adpcm = per.get("MS-ADPCM (sox)", {})
    print("\n| file | spectral 3.2 | QOA | gain | spectral 4 | MS-ADPCM | gain | spectral 2 |")
    print("|---|---|---|---|---|---|---|---|")
    for f in [p.stem for p in files]:
        q = qoa.get(f, (None, None))[1]
        a = adpcm.get(f)
        cells = [f, f"{sp32.get(f, float('nan')):.2f}", f"{q:.2f}" if q else "–",
                 f"{sp32[f] - q:+.2f}" if q and f in sp32 else "–", f"{sp4.get(f, float('nan')):.2f}",
                 f"{a:.2f}" if a else "–", f"{sp4[f] - a:+.2f}" if a and f in sp4 else "–", f"{sp2.get(f, float('nan')):.2f}"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    if missing:
        print("\nnot on PATH (skipped): " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
