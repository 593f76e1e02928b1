"""Long, varied (not looped) 16-bit stereo test files for the encode benchmarks, made with sox.

    python tools/varied_inputs.py ../shared/corpus [--samples /usr/share/sonic-pi/samples] [--out /tmp]

The looped inputs of the speed tables (/tmp/m5.wav, /tmp/fb5.wav: one corpus file repeated to five
minutes) repeat the same frames, so every 4th frame of them is a near-perfect sample of the whole;
real recordings are not so kind to the rate control.  These are strung together from different
sources, each resampled to 44.1 kHz stereo (sox -R: the same dither on every run, the same files):

* L1.wav: music_wanderer, guitar_bell, music_elvish, loops_sonicpi, music_heroes (103 s);
* L2.wav: every sonic-pi sample in name order (Debian's sonic-pi-samples: 165 files, 324 s);
* L3.wav: the last 120 of those in reverse order (227 s);
* L4.wav: speech_espeak, music_heroes, drums_808, guitar_bell, speech_alsa_side, music_elvish,
  hits_sonicpi (80 s).
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import tempfile

L1 = ["music_wanderer", "guitar_bell", "music_elvish", "loops_sonicpi", "music_heroes"]
L4 = ["speech_espeak", "music_heroes", "drums_808", "guitar_bell", "speech_alsa_side", "music_elvish", "hits_sonicpi"]


def _join(paths: list[pathlib.Path], out: pathlib.Path, tmp: pathlib.Path) -> None:
    """sox can only join files of one rate and channel count: each is converted first."""
    parts = []
    for i, p in enumerate(paths):
        q = tmp / f"{out.stem}_{i:03d}.wav"
        subprocess.run(["sox", "-R", str(p), "-b", "16", "-r", "44100", "-c", "2", str(q)], check=True, capture_output=True)
        parts.append(str(q))
    subprocess.run(["sox", "-R", *parts, "-b", "16", str(out)], check=True)
    print(out, f"{len(paths)} files")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=pathlib.Path)
    ap.add_argument("--samples", type=pathlib.Path, default=pathlib.Path("/usr/share/sonic-pi/samples"))
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("/tmp"))
    a = ap.parse_args()
    samples = sorted(a.samples.glob("*.flac"))
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        _join([a.corpus / f"{n}.flac" for n in L1], a.out / "L1.wav", tmp)
        _join(samples, a.out / "L2.wav", tmp)
        _join(samples[::-1][:120], a.out / "L3.wav", tmp)
        _join([a.corpus / f"{n}.flac" for n in L4], a.out / "L4.wav", tmp)


if __name__ == "__main__":
    main()
