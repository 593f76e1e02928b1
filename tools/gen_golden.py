"""Write tests/data/golden/: small encoded streams of each profile and setting, with their
source and decoded samples (numcodecs' ``check_backwards_compatibility`` pattern).

    python tools/gen_golden.py            # only writes cases that are missing
    python tools/gen_golden.py --force    # rewrites all: only after a deliberate format change

Each case NAME has ``NAME.wav`` (the source, 16-bit or float WAV), ``NAME.tqa`` (the stream)
and ``NAME.npy`` (the decoded samples, float32, no pickle).  tests/test_golden.py decodes the
stored bytes and re-encodes the stored source byte for byte: a format change fails loudly
and must bump the version or the profile id.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "golden"


def _signal(n: int, channels: int, seed: int) -> np.ndarray:
    """Deterministic test music: tones, a noise burst, an attack and a silent stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 44100.0
    x = np.zeros((n, channels))
    for c in range(channels):
        x[:, c] = 0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * np.sin(2 * np.pi * 3520 * t + c)
    x[n // 3 : n // 3 + 400] += rng.normal(0, 0.2, (400, channels))
    x[n // 2 : n // 2 + 50] += 0.6  # a step: an attack
    x[-700:] = 0.0  # silent blocks decode exact
    return np.clip(x, -1, 1)


def cases() -> dict[str, tuple[np.ndarray, int, dict]]:
    """name -> (source samples, sample rate, tqa.encode keywords)."""
    from tqa.signals import hadamard_blocks

    st = (_signal(5000, 2, 1) * 32767).astype(np.int16)
    mono = (_signal(3000, 1, 2)[:, 0] * 32767).astype(np.int16)
    multi = _signal(2100, 3, 3).astype(np.float32)
    tone = 0.2 * np.sin(np.arange(128) * 0.3)
    hard = np.concatenate((tone, hadamard_blocks(64, 0, 0.25, rows=np.arange(0, 64, 9)))).astype(np.float32)
    return {
        # the time profile named: it is no longer the default (a bare tqa.encode is spectral2)
        "time_default_stereo": (st, 44100, {"profile": "time"}),
        "time_b3_none_mono": (mono, 22050, {"profile": "time", "bits": 3, "residual": "none", "block_size": 256}),
        "time_qjl_multich": (multi, 48000, {"profile": "time", "bits": 4, "residual": "qjl", "qjl_rows": 32, "block_size": 64, "seed": 7}),
        "time_hard_blocks": (hard, 8000, {"profile": "time", "bits": 6, "block_size": 64, "frame_samples": 128}),
        "spectral_cbr_stereo": (st, 44100, {"profile": "spectral", "rate": 3.0, "hop": 256}),
        "spectral_vbr_mono": (mono, 22050, {"profile": "spectral", "quality": 30.0, "hop": 512}),
        "spectral_cbr_multich": (multi, 48000, {"profile": "spectral", "rate": 4.5, "hop": 256, "seed": 3}),
        "spectral2_rate_stereo": (st, 44100, {"profile": "spectral2", "rate": 3.0}),
        "spectral2_quality_mono_rotated": (mono, 22050, {"profile": "spectral2", "quality": 40.0, "hop": 512,
                                                          "rotate": True, "seed": 5}),
        "spectral2_perceptual_stereo": (st, 44100, {"profile": "spectral2", "rate": 2.5, "tune": "perceptual", "seed": 3}),
        "spectral2_floor_stereo": (st, 44100, {"profile": "spectral2", "quality": 30.0, "frame_floor": 45.0}),
    }


def main() -> None:
    import tqa

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rewrite existing cases")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (x, sr, kw) in cases().items():
        if (OUT / f"{name}.tqa").exists() and not args.force:
            continue
        subtype = "PCM_16" if x.dtype == np.int16 else "FLOAT"
        sf.write(OUT / f"{name}.wav", x, sr, subtype=subtype)
        data = tqa.encode(x, sr, **kw)
        (OUT / f"{name}.tqa").write_bytes(data)
        np.save(OUT / f"{name}.npy", tqa.decode(data)[0].astype(np.float32), allow_pickle=False)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
