"""The ``tqa`` command line (Fire), and audiotq's ``tqa-cli`` / ``tqa-sim`` entry points.

Reports go to stdout (``--json``: one JSON document and nothing else), progress bars
and errors to stderr.  Any bad input ends with one line ``tqa: error: ...`` naming
the file or option, and exit status 2.
"""

from __future__ import annotations

import json as _json
import os
import pathlib
import sys
import tempfile
import time

import fire
import numpy as np
import soundfile as sf

from . import api, audio, metrics, registry, signals
from .blockcodec import RESIDUALS
from .codebook import MAX_BITS
from .format import FormatError
from .rotation import MAX_BLOCK, MIN_BLOCK

__all__ = ["main", "legacy_cli", "legacy_sim", "Commands"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Exit(Exception):
    """End with this exit status after a complete report (e.g. verify found damage)."""

    def __init__(self, code: int) -> None:
        self.code = code


# -- option checking (Fire passes values through as it parsed them) -------------
def _int(name: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise CLIError(f"--{name}: expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise CLIError(f"--{name}: {v} is out of range {lo}..{hi}")
    return int(v)


def _float(name: str, v, lo: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise CLIError(f"--{name}: expected a number, got {v!r}")
    if v < lo:
        raise CLIError(f"--{name}: must be >= {lo}, got {v}")
    return float(v)


def _settings(bits, residual, block_size, seed, engine, qjl_rows=None, profile="time", rate=None, quality=None,
              hop=1024) -> dict:  # fmt: skip
    if profile not in ("time", "spectral"):
        raise CLIError(f"--profile: expected time or spectral, got {profile!r}")
    if profile == "spectral":
        if rate is not None and quality is not None:
            raise CLIError("give --rate or --quality, not both")
        if rate is not None and not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0.5 <= rate <= 16):
            raise CLIError(f"--rate: expected bits per sample from 0.5 to 16, got {rate!r}")
        if quality is not None and not (isinstance(quality, (int, float)) and not isinstance(quality, bool) and 1 <= quality <= 120):
            raise CLIError(f"--quality: expected an SQNR in dB from 1 to 120, got {quality!r}")
        if hop not in (256, 512, 1024, 2048):
            raise CLIError(f"--hop: expected 256, 512, 1024 or 2048, got {hop!r}")
        return dict(profile="spectral", rate=rate, quality=quality, seed=_int("seed", seed, 0, 2**64 - 1), hop=hop,
                    engine=_engine(engine))  # fmt: skip
    if rate is not None or quality is not None:
        raise CLIError("--rate and --quality need --profile spectral")
    bits = _int("bits", bits, 1, MAX_BITS)
    if residual not in RESIDUALS:
        raise CLIError(f"--residual: expected one of {', '.join(RESIDUALS)}, got {residual!r}")
    block_size = _int("block-size", block_size, MIN_BLOCK, MAX_BLOCK)
    if block_size & (block_size - 1):
        raise CLIError(f"--block-size: must be a power of two, got {block_size}")
    seed = _int("seed", seed, 0, 2**64 - 1)
    if qjl_rows is not None:
        qjl_rows = _int("qjl-rows", qjl_rows, 8, block_size)
        if residual != "qjl" or qjl_rows % 8:
            raise CLIError("--qjl-rows: needs --residual qjl and a multiple of 8")
    return dict(bits=bits, residual=residual, block_size=block_size, seed=seed, qjl_rows=qjl_rows, engine=_engine(engine))


def _engine(engine):
    if engine is None:
        return None
    try:  # checks the name without importing every engine (start-up time)
        registry.get_engine(engine)
    except ValueError:
        raise CLIError(f"--engine: unknown engine {engine!r}; available: {', '.join(registry.engines())}, auto") from None
    return engine


def _no_extras(extra: tuple, unknown: dict) -> None:
    if extra:
        raise CLIError(f"unexpected argument {extra[0]!r}")
    if unknown:
        name = next(iter(unknown))
        raise CLIError(f"unknown option {'-' if len(name) == 1 else '--'}{name.replace('_', '-')}")


def _need(value, what: str):
    if value is None or value is True or value == "":
        raise CLIError(f"missing {what}")
    return str(value)


class _Progress:
    """tqdm bar on stderr when it is a terminal, shown after about a second."""

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=" samples", unit_scale=True, delay=1.0, file=sys.stderr, leave=False)

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _emit(report: dict, as_json: bool, lines: list[str], quiet: bool) -> None:
    if as_json:
        print(_json.dumps(report, indent=2, default=float))
    elif not quiet:
        print("\n".join(lines))


def _fmt_db(v: float) -> str:
    return "inf (exact)" if v == float("inf") else f"{v:.2f} dB"


def _read_pair(f1: str, f2: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Both files as float64 (n, channels), aligned to the shorter length."""
    data = []
    for name in (f1, f2):
        p = audio.check_input(name)
        try:
            x, sr = sf.read(str(p), dtype="float64", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise CLIError(f"{p}: not a readable audio file ({exc})") from None
        data.append((x, sr))
    (a, ra), (b, rb) = data
    if ra != rb:
        raise CLIError(f"sample rates differ: {f1} is {ra} Hz, {f2} is {rb} Hz")
    if a.shape[1] != b.shape[1]:
        raise CLIError(f"channel counts differ: {f1} has {a.shape[1]}, {f2} has {b.shape[1]}")
    n = min(a.shape[0], b.shape[0])
    return a[:n], b[:n], ra


def _plot(a: np.ndarray, b: np.ndarray, sr: int, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("--plot needs matplotlib: pip install 'tqa[plot]'") from None
    t = np.arange(a.shape[0]) / sr
    err = a - b
    _, seg = metrics.segmental_snr_db(a, b, sr)
    fig, ax = plt.subplots(4, 1, figsize=(10, 11))
    ax[0].plot(t, a.mean(axis=1), lw=0.5, label="reference")
    env = np.abs(err).max(axis=1)
    ax[0].fill_between(t, -env, env, color="r", alpha=0.5, label="|error|")
    ax[0].set(title="waveform and error envelope", xlabel="s")
    ax[0].legend(loc="upper right")
    for i, (x, name) in enumerate(((a, "reference"), (b, "coded")), start=1):
        ax[i].specgram(x.mean(axis=1), Fs=sr, NFFT=1024, noverlap=512, cmap="magma")
        ax[i].set(title=f"spectrogram: {name}", xlabel="s", ylabel="Hz")
    ax[3].plot(np.arange(seg.size) * 0.02, seg, lw=0.7)
    ax[3].set(title="segmental SNR (20 ms)", xlabel="s", ylabel="dB")
    fig.tight_layout()
    with audio.atomic_output(path) as f:
        fig.savefig(f, format=pathlib.Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def _demo_signal(sr: int = 44100, seconds: float = 6.0) -> np.ndarray:
    """A built-in stereo test piece: chords, a bass line, hi-hat noise and kick transients."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    rng = np.random.default_rng(2026)
    x = np.zeros((n, 2))
    for i, f in enumerate((220.0, 277.18, 329.63, 440.0)):
        x[:, i % 2] += 0.08 * np.sin(2 * np.pi * f * t + i) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
    x += (0.12 * np.sin(2 * np.pi * 55 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2)[:, None]
    beat = (t % 0.5) < 0.06
    kick = np.sin(2 * np.pi * 60 * (t % 0.5) * (1 - 4 * (t % 0.5))) * np.exp(-(t % 0.5) * 40)
    x += 0.3 * (kick * beat)[:, None]
    hat = rng.normal(0, 1, (n, 2)) * np.exp(-((t + 0.25) % 0.25) * 80)[:, None]
    x += 0.03 * hat
    return x.astype(np.float32)


class Commands:
    """TQA audio codec: encode, decode, run, compare, sim, info, verify, batch, engines, demo."""

    def encode(self, input=None, output=None, *extra, bits=6, residual="sign", block_size=512, seed=0,
               engine=None, qjl_rows=None, profile="time", rate=None, quality=None, hop=1024, quiet=False,
               json=False, **unknown):  # fmt: skip
        """Encode an audio file (WAV, FLAC, OGG, AIFF, ...) to a .tqa file.

        --profile spectral --rate 3.2 (bits/sample) or --quality 40 (dB): the spectral profile
        (--hop 1024: the MDCT hop).
        """
        _no_extras(extra, unknown)
        src, dst = _need(input, "INPUT file"), _need(output, "OUTPUT.tqa file")
        opts = _settings(bits, residual, block_size, seed, engine, qjl_rows, profile, rate, quality, hop)
        total = _frames_of(src)
        bar = _Progress(total, "encode", quiet or json)
        try:
            r = audio.encode_file(src, dst, progress=bar, **opts)
        finally:
            bar.close()
        with open(dst, "rb") as f:
            inf = api.info(f)
        report = {"input": src, "output": dst, **inf, "encode_seconds": r.seconds}
        _emit(report, json, _info_lines(dst, inf) + [f"encoded in {r.seconds:.2f} s ({_xrt(inf['duration'], r.seconds)})"], quiet)

    def decode(self, input=None, output=None, *extra, start=0.0, duration=None, engine=None, subtype=None,
               recover=False, quiet=False, json=False, **unknown):  # fmt: skip
        """Decode a .tqa file to audio; --start/--duration (seconds) read only the frames needed.

        --recover writes damaged frames as silence and lists them, instead of stopping.
        """
        _no_extras(extra, unknown)
        src, dst = _need(input, "INPUT.tqa file"), _need(output, "OUTPUT audio file")
        start = _float("start", start)
        duration = None if duration is None else _float("duration", duration)
        engine = _engine(engine)
        with open(audio.check_input(src), "rb") as f:
            h = api.Decoder(f, name=src).header
        first = int(round(start * h.sample_rate))
        count = None if duration is None else int(round(duration * h.sample_rate))
        bar = _Progress(h.n_samples if count is None else count, "decode", quiet or json)
        try:
            r = audio.decode_file(src, dst, start=first, frames=count, subtype=subtype, engine=engine,
                                  on_error="silence" if recover else "raise", progress=bar)  # fmt: skip
        finally:
            bar.close()
        info = sf.info(dst)
        report = {"input": src, "output": dst, "frames": r.frames, "channels": r.channels, "sample_rate": r.sample_rate,
                  "format": info.format, "subtype": info.subtype, "bytes": r.out_bytes, "decode_seconds": r.seconds,
                  "lost_frames": r.lost}  # fmt: skip
        if r.lost and not json:
            for d in r.lost:
                print(f"tqa: warning: frame {d['frame']} ({d['start_s']:.3f}-{d['end_s']:.3f} s) replaced by silence: "
                      f"{d['reason']}", file=sys.stderr)  # fmt: skip
        _emit(report, json, [f"{dst}: {r.frames} frames x {r.channels} ch, {r.sample_rate} Hz, "
                             f"{info.format} {info.subtype}, decoded in {r.seconds:.2f} s "
                             f"({_xrt(r.frames / r.sample_rate, r.seconds)})"], quiet)  # fmt: skip

    def run(self, *extra, input=None, output=None, keep=None, backend=None, engine=None, bits=6, residual="sign",
            block_size=512, seed=0, qjl_rows=None, profile="time", rate=None, quality=None, subtype=None,
            quiet=False, json=False, **unknown):  # fmt: skip
        """Round trip INPUT -> .tqa -> OUTPUT with a report (-i INPUT -o OUTPUT, --keep file.tqa)."""
        input = unknown.pop("i", input)
        output = unknown.pop("o", output)
        _no_extras(extra, unknown)
        src, dst = _need(input, "input file (-i INPUT)"), _need(output, "output file (-o OUTPUT)")
        if backend is not None and engine is not None and backend != engine:
            raise CLIError("give --backend or --engine, not both")
        opts = _settings(bits, residual, block_size, seed, backend if backend is not None else engine, qjl_rows,
                         profile, rate, quality)  # fmt: skip
        audio.check_input(src)
        if pathlib.Path(dst).suffix.lower() not in audio.OUTPUT_FORMATS:
            raise CLIError(f"{dst}: unknown output extension; use one of {', '.join(audio.OUTPUT_FORMATS)}")
        report = _round_trip(src, dst, keep, opts, subtype, quiet or json)
        _emit(report, json, _run_lines(report), quiet)

    def compare(self, *extra, f1=None, f2=None, json=False, plot=None, quiet=False, **unknown):
        """Compare two audio files (-f1 reference -f2 coded): MSE, SQNR, segmental SNR, correlation, ..."""
        _no_extras(extra, unknown)
        a, b, sr = _read_pair(_need(f1, "reference file (-f1 FILE)"), _need(f2, "coded file (-f2 FILE)"))
        m = metrics.compare(a, b, sr)
        m.update(reference=str(f1), coded=str(f2), sample_rate=sr)
        if plot:
            _plot(a, b, sr, str(plot))
            m["plot"] = str(plot)
        lines = [
            f"reference  {f1}",
            f"coded      {f2}",
            f"frames     {m['frames']} x {m['channels']} ch at {sr} Hz (aligned to the shorter file)",
            f"MSE        {m['mse']:.3e}",
            f"SQNR       {_fmt_db(m['sqnr_db'])}   per channel: " + ", ".join(_fmt_db(v) for v in m["sqnr_db_per_channel"]),
            f"segSNR     {m['segmental_snr_db']:.2f} dB (20 ms segments, clipped to [-10, 60])",
            f"correlation {m['correlation']:.6f}",
            f"peak delta {m['peak_delta']:.6f}",
            f"envelope correlation {m['envelope_correlation']:.6f}",
            f"log-spectral distance {m['log_spectral_distance_db']:.3f} dB",
        ] + ([f"plot       {plot}"] if plot else [])
        _emit(m, json, lines, quiet)

    def sim(self, *extra, type="sine", frequency=440.0, duration=2.0, spikes=3, amplitude=0.1, sr=8000,
            output=None, bits=6, residual="sign", block_size=512, seed=0, engine=None, subtype=None,
            quiet=False, json=False, **unknown):  # fmt: skip
        """Synthetic signal (sine, square, noise, transient, chirp, hadamard): -o writes it, else a round-trip report."""
        output = unknown.pop("o", output)
        _no_extras(extra, unknown)
        if type not in signals.SIGNAL_TYPES:
            raise CLIError(f"--type: expected one of {', '.join(signals.SIGNAL_TYPES)}, got {type!r}")
        sr_ = _int("sr", sr, 1, 2**31 - 1)
        x = signals.generate(type, _float("frequency", frequency), _float("duration", duration),
                             _int("spikes", spikes, 0, 10**9), _float("amplitude", amplitude), sr_,
                             block_size=_settings(bits, residual, block_size, seed, engine)["block_size"])  # fmt: skip
        if _float("amplitude", amplitude) > 16 or np.max(np.abs(x), initial=0) > 16:
            raise CLIError("--amplitude: the signal exceeds the +-16.0 float headroom")
        if output is not None:
            out = str(output)
            fmt = audio.OUTPUT_FORMATS.get(pathlib.Path(out).suffix.lower())
            if fmt is None:
                raise CLIError(f"{out}: unknown output extension; use one of {', '.join(audio.OUTPUT_FORMATS)}")
            st = audio.output_subtype(fmt, 4, subtype)
            with audio.atomic_output(out) as f:
                sf.write(f, x, sr_, subtype=st, format=fmt)
            _emit({"output": out, "type": type, "frames": x.size, "sample_rate": sr_, "subtype": st}, json,
                  [f"wrote {out}: {type}, {x.size} samples at {sr_} Hz ({st})"], quiet)  # fmt: skip
            return
        opts = _settings(bits, residual, block_size, seed, engine)
        t0 = time.perf_counter()
        data = api.encode(x, sr_, **opts)
        t1 = time.perf_counter()
        y, _ = api.decode(data, engine=opts["engine"])
        t2 = time.perf_counter()
        inf = api.info(data)
        snr = metrics.sqnr_db(x, y)
        report = {"type": type, "frames": int(x.size), "sample_rate": sr_, "source_bytes": int(x.nbytes), "tqa_bytes": len(data),
                  "ratio": inf["ratio"], "bits_per_sample": inf["bits_per_sample"], "mse": float(np.mean((x - y.astype(np.float64)) ** 2)) if x.size else 0.0,
                  "sqnr_db": snr, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1}  # fmt: skip
        lines = [
            f"signal     {type}, {frequency} Hz, {duration} s, {spikes} spikes, amplitude {amplitude}, {sr_} Hz",
            f"source     {x.nbytes} bytes (float32)",
            f"tqa        {len(data)} bytes: {inf['ratio']:.2f}x smaller, {inf['bits_per_sample']:.3f} bits/sample (all side info included)",
            f"MSE        {report['mse']:.3e}",
            f"SQNR       {_fmt_db(snr)}  (nominal on Gaussian data: {inf['nominal_sqnr_db']:.2f} dB)",
        ]
        if spikes and x.size:
            idx = np.sort(np.argsort(np.abs(x))[-min(int(spikes), 10):])
            lines.append("spikes     " + ", ".join(f"[{i}] {x[i]:+.4f} -> {y[i]:+.4f}" for i in idx))
        _emit(report, json, lines, quiet)

    def info(self, input=None, *extra, json=False, quiet=False, **unknown):
        """Header, duration, bits per sample and ratio of a .tqa file."""
        _no_extras(extra, unknown)
        src = _need(input, "FILE.tqa")
        with open(audio.check_input(src), "rb") as f:
            inf = api.info(f, src)
        if inf["problem"]:
            print(f"tqa: warning: {src}: {inf['problem']}", file=sys.stderr)
        _emit({"file": src, **inf}, json, _info_lines(src, inf), quiet)

    def verify(self, input=None, *extra, json=False, quiet=False, **unknown):
        """Check every frame's CRC-32 of a .tqa file without writing anything (exit 1 if damaged)."""
        _no_extras(extra, unknown)
        src = _need(input, "FILE.tqa")
        with open(audio.check_input(src), "rb") as f:
            bad = api.verify(f, src)
            f.seek(0)
            dec = api.Decoder(f, name=src, on_error="silence")
        h = dec.header
        report = {"file": src, "frames": dec.reader.n_frames, "ok": not bad,
                  "damaged": [{"frame": i, "start_s": h.profile.frame_samples(h.settings, i, h.n_samples)[0] / h.sample_rate,
                               "problem": p} for i, p in bad]}  # fmt: skip
        lines = [f"{src}: {dec.reader.n_frames} frames, all CRCs match and all frames decode"] if not bad else [
            f"{src}: {len(bad)} problem(s) in {dec.reader.n_frames} frames:"] + [
            f"  frame {d['frame']} at {d['start_s']:.3f} s: {d['problem']}" for d in report["damaged"]]  # fmt: skip
        _emit(report, json, lines, quiet)
        if bad:
            raise _Exit(1)

    def batch(self, source=None, destination=None, *extra, decode=False, format="wav", subtype=None, workers=2,
              scheduler=None, verify=False, bits=6, residual="sign", block_size=512, seed=0, engine=None,
              qjl_rows=None, profile="time", rate=None, quality=None, quiet=False, json=False, **unknown):  # fmt: skip
        """Transcode a folder tree on Dask (--workers N or --scheduler tcp://HOST:PORT); resumable.

        Audio -> .tqa by default, .tqa -> audio with --decode (--format wav|flac).  --verify
        decodes each .tqa and measures its SQNR against the source.
        """
        _no_extras(extra, unknown)
        src, dst = _need(source, "SOURCE folder"), _need(destination, "DESTINATION folder")
        opts = _settings(bits, residual, block_size, seed, engine, qjl_rows, profile, rate, quality)
        workers = _int("workers", workers, 1, 1024)
        ext = "." + str(format).lower().lstrip(".")
        if decode and ext not in audio.OUTPUT_FORMATS:
            raise CLIError(f"--format: expected one of {', '.join(e[1:] for e in audio.OUTPUT_FORMATS)}, got {format!r}")
        if pathlib.Path(dst).resolve().is_relative_to(pathlib.Path(src).resolve()):
            raise CLIError(f"{dst}: the destination must not be inside the source folder")
        try:
            from . import batch as _batch

            _batch._dask()
        except ImportError as exc:
            raise CLIError(str(exc)) from None
        bar = None
        if not (quiet or json) and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(desc="batch", unit=" files", file=sys.stderr, delay=1.0, leave=False)
        try:
            summary = _batch.run_batch(src, dst, decode=decode, out_ext=ext, subtype=subtype, workers=workers,
                                       scheduler=scheduler, verify=verify, progress=(lambda r: bar.update(1)) if bar else None,
                                       **opts)  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
        s = summary
        lines = [
            f"files       {s['files']} done, {s['skipped_complete']} already complete, {s['failed']} failed "
            f"({s['workers']} workers, {s['wall_seconds']:.1f} s)",
            f"audio       {s['audio_hours']:.3f} hours"
            + (f" ({s['x_realtime']:.0f}x real time)" if s["files"] and s["x_realtime"] else ""),
            f"bytes       {s['input_bytes']} in, {s['output_bytes']} out"
            + (f"; {s['ratio_vs_pcm']:.2f}x against the source PCM" if s["ratio_vs_pcm"] else ""),
        ]
        if s["sqnr_db_mean"] is not None:
            lines.append(f"SQNR        mean {s['sqnr_db_mean']:.2f} dB, worst {s['sqnr_db_worst']:.2f} dB")
        lines += [f"FAILED      {f['file']}: {f['error']}" for f in s["failures"]]
        _emit(summary, json, lines, quiet)
        if s["failed"]:
            raise _Exit(1)

    def engines(self, *extra, json=False, **unknown):
        """List the available engines and the default choice."""
        _no_extras(extra, unknown)
        names = registry.engines()
        rule = (f"scipy for batches below {registry.TILED_FROM_SAMPLES} samples once SciPy is loaded, "
                "tiled otherwise")  # fmt: skip
        if json:
            print(_json.dumps({"engines": names, "default": "auto", "auto_rule": rule}))
        else:
            print("engines: " + ", ".join(names))
            print(f"default: auto ({rule})")

    def demo(self, *extra, output=None, quiet=False, json=False, **unknown):
        """The main job on a built-in 6 s stereo signal: encode, decode, report (no input needed)."""
        output = unknown.pop("o", output)
        _no_extras(extra, unknown)
        with tempfile.TemporaryDirectory(prefix="tqa-demo-") as tmp:
            folder = pathlib.Path(output) if output else pathlib.Path(tmp)
            if output:
                if folder.exists() and not folder.is_dir():
                    raise CLIError(f"--output: {folder} exists and is not a folder")
                folder.mkdir(parents=True, exist_ok=True)
            src = folder / "demo.wav"
            sf.write(str(src), _demo_signal(), 44100, subtype="PCM_16")
            keep = str(folder / "demo.tqa") if output else None
            report = _round_trip(str(src), str(folder / "demo_decoded.wav"), keep,
                                 _settings(6, "sign", 512, 0, None), None, quiet or json)  # fmt: skip
            lines = ["TQA demo: a built-in 6 s stereo piece (chords, bass, kick, hi-hat), 16-bit 44.1 kHz", ""]
            lines += _run_lines(report)
            if not output:
                lines += ["", "(files were written to a temporary folder; pass --output DIR to keep them)"]
            _emit(report, json, lines, quiet)


def _frames_of(path: str) -> int:
    p = audio.check_input(path)
    try:
        return sf.info(str(p)).frames
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CLIError(f"{p}: not a readable audio file ({exc})") from None


def _xrt(audio_seconds: float, seconds: float) -> str:
    return f"{audio_seconds / seconds:.0f}x real time" if seconds > 0 else "instant"


def _info_lines(path: str, inf: dict) -> list[str]:
    if inf["profile"] == "spectral":
        mode = f"CBR {inf['rate']} bits/sample" if inf["mode"] == "cbr" else f"VBR at {inf['quality']} dB SQNR per frame"
        return [
            f"file        {path}",
            f"format      .tqa v{inf['version']}, profile spectral (MDCT hop {inf['hop']}, bands of 16), {mode}, seed {inf['seed']}",
            f"audio       {inf['channels']} ch, {inf['sample_rate']} Hz, {inf['frames']} frames ({inf['duration']:.3f} s), source {inf['source_format']}",
            f"size        {inf['bytes']} bytes in {inf['tqa_frames']} frames; source PCM {inf['source_bytes']} bytes",
            f"rate        {inf['bits_per_sample']:.3f} bits/sample (headers, CRCs and side info included)",
            f"ratio       {inf['ratio']:.2f}x against the source PCM",
        ]
    res = inf["residual"] + (f" ({inf['qjl_rows']} rows)" if inf["residual"] == "qjl" else "")
    return [
        f"file        {path}",
        f"format      .tqa v{inf['version']}, profile {inf['profile']}",
        f"audio       {inf['channels']} ch, {inf['sample_rate']} Hz, {inf['frames']} frames ({inf['duration']:.3f} s), source {inf['source_format']}",
        f"settings    {inf['bits']} bits + {res} residual, block {inf['block_size']}, seed {inf['seed']}",
        f"size        {inf['bytes']} bytes in {inf['tqa_frames']} frames; source PCM {inf['source_bytes']} bytes",
        f"rate        {inf['bits_per_sample']:.3f} bits/sample (headers, CRCs and side info included)",
        f"ratio       {inf['ratio']:.2f}x against the source PCM",
        f"nominal     {inf['nominal_sqnr_db']:.2f} dB SQNR on Gaussian data",
    ]


def _round_trip(src: str, dst: str, keep, opts: dict, subtype, quiet: bool) -> dict:
    """Encode src to .tqa (kept at ``keep`` if given), decode to dst, measure both ends."""
    total = _frames_of(src)
    with tempfile.TemporaryDirectory(prefix="tqa-run-") as tmp:
        tqa_path = str(keep) if keep else os.path.join(tmp, "out.tqa")
        bar = _Progress(total, "encode", quiet)
        try:
            enc = audio.encode_file(src, tqa_path, progress=bar, **opts)
        finally:
            bar.close()
        bar = _Progress(total, "decode", quiet)
        try:
            dec = audio.decode_file(tqa_path, dst, subtype=subtype, engine=opts["engine"], progress=bar)
        finally:
            bar.close()
        with open(tqa_path, "rb") as f:
            inf = api.info(f)
    si, so = sf.info(src), sf.info(dst)
    meter = metrics.SNRMeter(si.channels)
    with sf.SoundFile(src) as a, sf.SoundFile(dst) as b:
        while True:
            x = a.read(audio.chunk_samples(2), dtype="float64", always_2d=True)
            y = b.read(audio.chunk_samples(2), dtype="float64", always_2d=True)
            if not x.shape[0]:
                break
            meter.update(x, y)
    return {
        "input": src, "input_format": f"{si.format} {si.subtype}", "input_bytes": enc.in_bytes,
        "channels": si.channels, "sample_rate": si.samplerate, "frames": si.frames, "duration": si.duration,
        "tqa": str(keep) if keep else None, "tqa_bytes": inf["bytes"], "source_pcm_bytes": inf["source_bytes"],
        "source_format": inf["source_format"], "ratio": inf["ratio"], "bits_per_sample": inf["bits_per_sample"],
        "settings": {k: v for k, v in opts.items() if v is not None},
        "sqnr_db": meter.sqnr_db, "sqnr_db_per_channel": meter.per_channel,
        "encode_seconds": enc.seconds, "decode_seconds": dec.seconds,
        "encode_x_realtime": si.duration / enc.seconds if enc.seconds else None,
        "decode_x_realtime": si.duration / dec.seconds if dec.seconds else None,
        "output": dst, "output_format": f"{so.format} {so.subtype}",
    }  # fmt: skip


def _run_lines(r: dict) -> list[str]:
    s = r["settings"]
    if s.get("profile") == "spectral":
        how = f"spectral, {s['rate']} bits/sample" if s.get("rate") else f"spectral, {s.get('quality', 3.2)} dB"
    else:
        how = f"{s['bits']} bits + {s['residual']}, block {s['block_size']}"
    return [
        f"source      {r['input']}: {r['input_format']}, {r['channels']} ch, {r['sample_rate']} Hz, "
        f"{r['duration']:.2f} s, {r['input_bytes']} bytes on disk",
        f"tqa         {r['tqa_bytes']} bytes ({how})"
        + (f", kept at {r['tqa']}" if r["tqa"] else ""),
        f"ratio       {r['ratio']:.2f}x against the source PCM ({r['source_pcm_bytes']} bytes of {r['source_format']} samples)",
        f"rate        {r['bits_per_sample']:.3f} bits/sample (headers, CRCs and side info included)",
        f"SQNR        {_fmt_db(r['sqnr_db'])}   per channel: " + ", ".join(_fmt_db(v) for v in r["sqnr_db_per_channel"]),
        f"encode      {r['encode_seconds']:.2f} s ({_xrt(r['duration'], r['encode_seconds'])})",
        f"decode      {r['decode_seconds']:.2f} s ({_xrt(r['duration'], r['decode_seconds'])})",
        f"output      {r['output']}: {r['output_format']}",
    ]


def _run_fire(component, argv: list[str] | None, name: str) -> int:
    try:
        fire.Fire(component, command=sys.argv[1:] if argv is None else argv, name=name)
    except _Exit as exc:
        return exc.code
    except CLIError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except (FormatError, audio.AudioError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"{name}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except fire.core.FireExit as exc:
        return int(exc.code or 0)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``tqa``."""
    sys.exit(_run_fire(Commands, argv, "tqa"))


def legacy_cli(argv: list[str] | None = None) -> None:
    """audiotq's ``tqa-cli run -i in.wav -o out.wav`` and ``tqa-cli compare -f1 a -f2 b``."""
    sys.exit(_run_fire(Commands, argv, "tqa-cli"))


def legacy_sim(argv: list[str] | None = None) -> None:
    """audiotq's ``tqa-sim --type square --frequency 440 --duration 2.0 --spikes 5``."""
    sys.exit(_run_fire(Commands().sim, argv, "tqa-sim"))
