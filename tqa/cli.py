"""The ``tqa`` command line, and audiotq's ``tqa-cli`` / ``tqa-sim`` entry points.

Conventions (flac, sox and ffmpeg where they agree; the README's "Command line" section has the table):

* Reports go to stdout (``--json``: one strict JSON document and nothing else);
  progress bars, warnings and errors to stderr.  When the data goes to stdout
  (``-``), the report goes to stderr.
* Every failure is one line ``tqa: error: ...`` naming the file or option, exit 2;
  ``verify`` exits 1 when it finds damage; Ctrl-C prints ``tqa: interrupted``, exit
  130; a closed pipe (``tqa verify x | head -1``) ends quietly.
* An existing output is never replaced without ``-f/--force``, an input never (even
  with it); outputs appear whole or not at all (see :mod:`tqa.audio`).
* Arguments are names: parsed with :mod:`argparse`, never evaluated as Python
  literals.  (The ``tqa`` command used Fire, which reads ``1.50`` as 1.5, ``0x10``
  as 16 and ``None`` as a missing value; the legacy ``tqa-cli`` and ``tqa-sim``
  interfaces are served by the same parser, which accepts their spellings:
  ``-i/-o``, ``-f1/-f2``, ``--block_size``.)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json as _json
import math
import os
import pathlib
import shutil
import signal
import stat
import sys
import tempfile
import time
import warnings

from . import __version__, registry, timespec, vocab
from .profiles import settings as _settings
from .profiles.settings import MAX_BITS, MAX_BLOCK, MIN_BLOCK, QUALITY_RANGE, RATE_RANGE, RESIDUALS

__all__ = ["main", "legacy_cli", "legacy_sim", "build_parser", "CLIError"]


class _Lazy:
    """A module imported on first use: ``import tqa.cli`` and the parser need no NumPy, SciPy,
    soundfile or codec (a command imports what it runs; ``tqa --help`` imports none of them)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


np = _Lazy("numpy")
sf = _Lazy("soundfile")
api, audio, metrics, signals, _format = (_Lazy(f"tqa.{m}") for m in ("api", "audio", "metrics", "signals", "format"))

PROFILES = tuple(_settings.names())


def _close(word: str, known: list, cutoff: float = 0.6) -> list:
    """difflib's nearest match (imported on a typo only: ~5 ms of every command's start-up)."""
    import difflib

    return difflib.get_close_matches(word, known, n=1, cutoff=cutoff)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Exit(Exception):
    """End with this exit status after a complete report (e.g. verify found damage)."""

    def __init__(self, code: int) -> None:
        self.code = code


# -- settings: the library's Settings classes validate, the CLI only names options ---------
def _settings_class(profile: str):
    """The profile's Settings: the only place that knows defaults and ranges."""
    return _settings.SETTINGS[profile]


SETTING_OPTIONS = ("bits", "residual", "block_size", "qjl_rows", "frame_samples", "seed", "rate", "quality", "hop", "tune", "frame_floor")


def _field_defaults(profile: str) -> dict:
    try:
        return {f.name: f.default for f in dataclasses.fields(_settings_class(profile))}
    except TypeError:
        return {}


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def settings_from_args(a: argparse.Namespace) -> dict:
    """``profile``, the settings given on the command line (validated by the profile) and ``engine``.

    No ``--profile``: the one the settings given pick, else the command's default
    (:func:`tqa.profiles.resolve`; ``a.default_profile``, set by :func:`_add_settings`)."""
    given = {k: getattr(a, k) for k in SETTING_OPTIONS if getattr(a, k, None) is not None}
    try:
        profile = _settings.resolve(a.profile, given, getattr(a, "default_profile", _settings.DEFAULT))
    except TypeError:
        parts = [f"{_opt(k)} ({' or '.join(_settings.owners(k))})" for k in given]
        raise CLIError(f"no profile takes all of {', '.join(parts)}: name one with --profile") from None
    fields = set(_field_defaults(profile))
    for k in given:
        if k not in fields:
            own = ", ".join(_opt(f) for f in SETTING_OPTIONS if f in fields)
            other = [p for p in PROFILES if p != profile and k in _field_defaults(p)]
            where = f"--profile {' or '.join(other)}" if other else "another profile"
            raise CLIError(f"{_opt(k)} applies to {where}, not --profile {profile} (which takes {own})")
    try:
        _settings.settings(profile, **given)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        word = msg.split(" ", 1)[0]
        if word in SETTING_OPTIONS:
            msg = _opt(word) + ":" + msg[len(word) :]
        raise CLIError(msg) from None
    return {"profile": profile, **given, "engine": _engine(getattr(a, "engine", None))}


def _engine(engine):
    if engine is None:
        return None
    try:  # checks the name without importing every engine (start-up time)
        registry.get_engine(engine)
    except ValueError:
        raise CLIError(f"--engine: unknown engine {engine!r}; allowed: {', '.join(registry.engines())}") from None
    return engine


# -- argparse, made to speak in one line -----------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Show defaults that mean something (not None/False) after each option's help."""

    def _get_help_string(self, action):
        h = action.help or ""
        if "%(default)" not in h and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            h += " (default: %(default)s)"
        return h


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        kw.setdefault("formatter_class", _Formatter)
        kw.setdefault("allow_abbrev", False)
        super().__init__(*a, **kw)

    def error(self, message):
        if message.startswith("unrecognized arguments: "):
            extra = message.split(": ", 1)[1].split()
            word = extra[0]
            if word.startswith("-"):
                known = [o for act in self._actions for o in act.option_strings]
                near = _close(word.split("=")[0], known)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise CLIError(f"unknown option {word}{hint} (see '{self.prog} --help')")
            raise CLIError(f"unexpected argument {word!r} (see '{self.prog} --help')")
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _int(what: str, lo: int | None = None, hi: int | None = None):
    def parse(s: str) -> int:
        try:
            v = int(s, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range {lo}..{hi}")
        return v

    parse.__name__ = what
    return parse


def _float(what: str, lo: float | None = None, hi: float | None = None):
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {s!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{s} is out of range {lo}..{hi}")
        return v

    parse.__name__ = what
    return parse


def _time(s: str) -> timespec.TimeSpec:
    try:
        return timespec.parse(s)
    except timespec.TimeSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _add_settings(p: argparse.ArgumentParser, default: str) -> None:
    """The codec options of a command whose profile, when none is named (nor picked by the
    settings given, :func:`tqa.profiles.resolve`), is ``default`` (``a.default_profile``)."""
    p.set_defaults(default_profile=default)
    d: dict = {}  # the effective defaults: the default profile's, then each other profile's
    for name in (default, *(n for n in PROFILES if n != default)):
        for k, v in dataclasses.asdict(_settings.settings(name)).items():
            d.setdefault(k, v)

    def who(k: str) -> str:
        return ", ".join(_settings.owners(k))

    g = p.add_argument_group("codec settings (the profile's own; the others are refused)")
    g.add_argument("--profile", choices=PROFILES, default=None,
                   help="time: rotated blocks; spectral: MDCT bands; spectral2: entropy-coded MDCT, the best quality per "
                        f"bit (default: {default}, or the one profile that takes the settings given: --bits is time's)")  # fmt: skip
    g.add_argument("--bits", type=_int("bits"), metavar="N", help=f"time: bits per coordinate, 1..{MAX_BITS} (default: {d.get('bits')})")
    g.add_argument("--residual", choices=RESIDUALS, help=f"time: 1-bit residual layer (default: {d.get('residual')})")
    g.add_argument("--block-size", "--block_size", dest="block_size", type=_int("block size"), metavar="N",
                   help=f"time: rotation block, a power of two {MIN_BLOCK}..{MAX_BLOCK} (default: {d.get('block_size')})")  # fmt: skip
    g.add_argument("--qjl-rows", "--qjl_rows", dest="qjl_rows", type=_int("rows"), metavar="N",
                   help="time, --residual qjl: sketch rows, a multiple of 8 up to the block size (default: the block size)")  # fmt: skip
    g.add_argument("--frame-samples", "--frame_samples", dest="frame_samples", type=_int("frame samples"), metavar="N",
                   help="time: samples per channel in a frame, the unit of random access and CRC; a multiple of the "
                        f"block size (default: {d.get('frame_samples')})")  # fmt: skip
    g.add_argument("--rate", type=_float("rate"), metavar="BITS",
                   help=f"{who('rate')}: bits per sample, {RATE_RANGE[0]:g}..{RATE_RANGE[1]:g}, all included "
                        f"(spectral: every frame the same size) (default: {d.get('rate')})")  # fmt: skip
    g.add_argument("--quality", type=_float("quality"), metavar="DB",
                   help=f"{who('quality')}: target SQNR in dB, {QUALITY_RANGE[0]:g}..{QUALITY_RANGE[1]:g} (spectral: per "
                        "frame, VBR; spectral2: of the whole stream), instead of --rate")  # fmt: skip
    g.add_argument("--hop", type=_int("hop"), choices=(256, 512, 1024, 2048), metavar="{256,512,1024,2048}",
                   help=f"{who('hop')}: MDCT hop (default: {d.get('hop')})")  # fmt: skip
    g.add_argument("--tune", choices=("sqnr", "perceptual"),
                   help="spectral2: sqnr (MSE-optimal) or perceptual (noise filling, masking-weighted steps; for listening) (default: sqnr)")
    g.add_argument("--frame-floor", "--frame_floor", dest="frame_floor", type=_float("frame floor"), metavar="DB",
                   help="spectral2: every hop of every channel above the quiet level (10**(DB/20)/sqrt(12) 16-bit LSBs "
                        "RMS) meets this SQNR on the decoded output; with --rate the floor wins where both cannot hold "
                        "(default: off)")  # fmt: skip
    g.add_argument("--seed", type=_int("seed", 0, 2**64 - 1), metavar="N", help="rotation seed, 0..2**64-1 (default: 0)")
    _add_engine(g)


class _EngineOption(argparse._StoreAction):
    """``--engine``: its help lists the engines when it is shown (the plug-ins' names come from
    the package metadata, ~20 ms to read: not for every command's start)."""

    @property
    def help(self) -> str:
        return f"compute engine: {', '.join(registry.engine_names())} (default: auto)"

    @help.setter
    def help(self, value) -> None:
        pass


def _add_engine(g) -> None:
    g.add_argument("--engine", metavar="NAME", action=_EngineOption)


def _add_output(p, help_: str, short: bool = True) -> None:
    p.add_argument(*(("-o", "--output") if short else ("--output",)), dest="output", metavar="PATH", help=help_)


def _add_common(p, force: bool = True) -> None:
    if force:
        p.add_argument("-f", "--force", action="store_true", help="replace existing output files (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON document (strict: null for inf/nan)")


COMMANDS = {
    "encode": "audio file(s) -> .tqa (X.wav -> X.tqa beside it, or -o)",
    "decode": ".tqa file(s) -> audio (X.tqa -> X.wav, or -o; --start/--duration, --recover)",
    "run": "round trip INPUT -> .tqa -> OUTPUT with a quality report",
    "compare": "metrics (SQNR, segSNR, Zimtohrli, ViSQOL, ...) of a coded file against its reference",
    "sim": "synthetic signal: write it (-o) or report its round trip",
    "info": "header, duration, bitrate and ratio of .tqa file(s)",
    "verify": "check that every frame of .tqa file(s) is intact (exit 1 if damaged)",
    "batch": "transcode a folder tree on Dask (resumable)",
    "engines": "list the compute engines",
    "demo": "encode (as tqa encode does), decode and report a built-in 6 s stereo piece",
}

EPILOG = """time specs: 90 or 90.5 (seconds), 1:30 (m:s), 1:02:03.5 (h:m:s), 44100s (samples)
exit status: 0 ok, 1 damage found (verify) or failed files (batch), 2 error, 130 interrupted
'-' reads stdin / writes stdout; 'CMD --help' shows a command's options"""


_PARSERS: dict = {}


def parser_for(prog: str = "tqa") -> _Parser:
    """The parser of ``prog``, built once per process (argparse parsers are reusable)."""
    if prog not in _PARSERS:
        _PARSERS[prog] = build_parser(prog)
    return _PARSERS[prog]


def build_parser(prog: str = "tqa") -> _Parser:
    top = _Parser(prog=prog, description="TQA: a lossy audio codec (rotated Lloyd-Max blocks or MDCT bands).",
                  epilog="commands:\n" + "\n".join(f"  {k:<9} {v}" for k, v in COMMANDS.items()) + "\n\n" + EPILOG,
                  usage=f"{prog} [-h] [--version] COMMAND [options]")  # fmt: skip
    top.add_argument("--version", action="version", version=f"tqa {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, help=argparse.SUPPRESS)

    top.commands = {}

    def add(name: str, usage: str, description: str = "") -> _Parser:
        own = prog if (prog, name) == ("tqa-sim", "sim") else f"{prog} {name}"  # tqa-sim is audiotq's sim command
        p = sub.add_parser(name, prog=own, usage=f"{own} {usage}",
                           description=(COMMANDS[name] + ("\n\n" + description if description else "")),
                           epilog=EPILOG)  # fmt: skip
        top.commands[name] = p
        return p

    p = add("encode", "[options] INPUT... [-o OUTPUT.tqa|DIR|-]",
            "Writes X.tqa beside each X.wav (X.wav.tqa when two inputs share a stem), into -o DIR, or to\n"
            "-o NAME.tqa for one input ('tqa encode in.wav out.tqa' also works); '-' is stdin / stdout.")  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files (WAV, FLAC, OGG, AIFF, ...) or -")
    _add_output(p, "output .tqa file, folder, or - for stdout")
    _add_settings(p, _settings.DEFAULT)
    _add_common(p)

    p = add("decode", "[options] INPUT.tqa... [-o OUTPUT|DIR|-]",
            "Writes X.wav beside each X.tqa (X.flac with --format flac; m.wav.tqa gives m.wav), into -o DIR,\n"
            "or to -o NAME.ext for one input ('tqa decode in.tqa out.wav' also works); '-' is stdin / stdout.")  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".tqa files or -")
    _add_output(p, "output audio file (format from its extension), folder, or -")
    p.add_argument("--format", choices=sorted({k[1:] for k in vocab.OUTPUT_FORMATS}), default=None,
                   help="output format for default names and stdout (default: wav)")  # fmt: skip
    p.add_argument("--subtype", metavar="NAME", help="sample format, e.g. PCM_16, PCM_24, FLOAT, VORBIS (default: the source's)")
    p.add_argument("--start", type=_time, metavar="TIME", help="first sample to decode (default: 0)")
    p.add_argument("--duration", type=_time, metavar="TIME", help="how much to decode (default: to the end)")
    p.add_argument("--recover", action="store_true", help="decode damaged or missing frames as silence and list them")
    _add_engine(p)
    _add_common(p)

    p = add("run", "[options] -i INPUT -o OUTPUT [--keep FILE.tqa]")
    p.add_argument("pos", nargs="*", metavar="FILE", help="INPUT OUTPUT (instead of -i/-o)")
    p.add_argument("-i", "--input", dest="input", metavar="INPUT", help="source audio file")
    _add_output(p, "decoded audio file (format from its extension)")
    p.add_argument("--keep", metavar="FILE.tqa", help="keep the encoded stream here")
    p.add_argument("--subtype", metavar="NAME", help="output sample format (default: the source's)")
    p.add_argument("--backend", metavar="NAME", help="same as --engine (audiotq's name)")
    _add_settings(p, _settings.RUN_DEFAULT)
    _add_common(p)

    p = add("compare", "[options] REFERENCE CODED   (or -f1 REFERENCE -f2 CODED)",
            "Either file may be a .tqa stream (decoded on the fly); files are aligned to the shorter one.")
    p.add_argument("pos", nargs="*", metavar="FILE", help="reference and coded files")
    p.add_argument("-f1", "--f1", "--reference", dest="f1", metavar="FILE", help="reference file (audiotq's -f1)")
    p.add_argument("-f2", "--f2", "--coded", dest="f2", metavar="FILE", help="coded file (audiotq's -f2)")
    p.add_argument("--plot", metavar="FILE.png", help="draw waveforms, spectrograms and the difference (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="replace an existing --plot file")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON document (strict: null for inf/nan)")
    p.add_argument("--no-perceptual", action="store_true",
                   help="skip Zimtohrli and ViSQOL (tqa[perceptual]; they take about a second per second of audio)")

    p = add("sim", "[options] [-o FILE]")
    p.add_argument("--type", choices=vocab.SIGNAL_TYPES, default="sine", help="signal")
    p.add_argument("--frequency", type=_float("frequency", 0), default=440.0, metavar="HZ", help="frequency in Hz")
    p.add_argument("--duration", type=_float("duration", 0), default=2.0, metavar="S", help="seconds")
    p.add_argument("--spikes", type=_int("spikes", 0, 10**6), default=3, metavar="N", help="random full-scale spikes")
    p.add_argument("--amplitude", type=_float("amplitude", 0, 16), default=0.1, metavar="A", help="peak amplitude, 0..16")
    p.add_argument("--sr", "--rate-hz", dest="sr", type=_int("sample rate", 1, 2**31 - 1), default=8000, metavar="HZ",
                   help="sample rate")  # fmt: skip
    _add_output(p, "write the signal to this audio file instead of reporting a round trip")
    p.add_argument("--subtype", metavar="NAME", help="sample format of -o (default: FLOAT where the format allows)")
    _add_settings(p, _settings.RUN_DEFAULT)
    _add_common(p)

    p = add("info", "[options] FILE.tqa...")
    p.add_argument("inputs", nargs="+", metavar="FILE", help=".tqa files or -")
    _add_common(p, force=False)

    p = add("verify", "[options] FILE.tqa...",
            "Reads every frame, checks its CRC and that it decodes; damage is summarised in ranges.")
    p.add_argument("inputs", nargs="+", metavar="FILE", help=".tqa files or -")
    _add_common(p, force=False)

    p = add("batch", "[options] SOURCE DESTINATION",
            "Mirrors SOURCE into DESTINATION: audio -> .tqa (m.mp3.tqa when stems clash), or .tqa -> audio with\n"
            "--decode.  A rerun skips complete outputs; long files run as segments that a rerun keeps.")  # fmt: skip
    p.add_argument("source", metavar="SOURCE", help="source folder")
    p.add_argument("destination", metavar="DESTINATION", help="destination folder (not inside SOURCE)")
    p.add_argument("--decode", action="store_true", help=".tqa -> audio instead of audio -> .tqa")
    p.add_argument("--format", choices=sorted({k[1:] for k in vocab.OUTPUT_FORMATS}), default="wav",
                   help="output format with --decode")  # fmt: skip
    p.add_argument("--subtype", metavar="NAME", help="output sample format with --decode")
    p.add_argument("-j", "--workers", type=_int("workers", 1, 1024), default=2, metavar="N", help="local worker processes")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask cluster (tcp://HOST:PORT)")
    p.add_argument("--dashboard", nargs="?", const=":8787", default=None, metavar="ADDRESS",
                   help="start the Dask dashboard (default address :8787); off unless given")  # fmt: skip
    p.add_argument("--verify", action="store_true", help="decode each .tqa and measure its SQNR against the source")
    _add_settings(p, _settings.DEFAULT)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON document (strict: null for inf/nan)")

    p = add("engines", "[--json]")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = add("demo", "[options] [-o DIR]")
    _add_output(p, "keep demo.wav, demo.tqa and demo_decoded.wav in this folder")
    _add_common(p)
    return top


# -- output helpers ------------------------------------------------------------------------
def _strict(v):
    """JSON-ready: inf/nan -> None, numpy scalars -> Python, paths -> str."""
    if isinstance(v, dict):
        return {str(k): _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    numpy = sys.modules.get("numpy")  # a NumPy value exists only once NumPy is loaded
    if numpy is not None and isinstance(v, numpy.integer):
        return int(v)
    if isinstance(v, float) or (numpy is not None and isinstance(v, numpy.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (pathlib.PurePath,)):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v


def _dumps(report) -> str:
    return _json.dumps(_strict(report), indent=2, allow_nan=False, default=str)


class _Out:
    """Where reports go: stdout, or stderr when stdout carries data."""

    def __init__(self, a: argparse.Namespace, data_to_stdout: bool = False) -> None:
        self.json = getattr(a, "json", False)
        self.quiet = getattr(a, "quiet", False)
        self.stream = sys.stderr if data_to_stdout else sys.stdout
        if data_to_stdout and self.json:
            raise CLIError("--json needs stdout; it carries the data here (write the data to a file)")

    def lines(self, lines: list[str]) -> None:
        if not self.quiet and not self.json:
            print("\n".join(lines), file=self.stream)

    def doc(self, report) -> None:
        if self.json:
            print(_dumps(report), file=self.stream)

    def warn(self, msg: str) -> None:
        print(f"tqa: warning: {msg}", file=sys.stderr)


class _Progress:
    """tqdm bar on stderr when it is a terminal, shown after about a second."""

    def __init__(self, total: int | None, desc: str, quiet: bool) -> None:
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


def _fmt_db(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "undefined"
    return "inf (exact)" if v == float("inf") else f"{v:.2f} dB"


def _xrt(audio_seconds: float, seconds: float) -> str:
    return f"{audio_seconds / seconds:.0f}x real time" if seconds > 0 else "instant"


def _size(n: int) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= k:
            return f"{n} bytes ({n / k:.2f} {unit})"
    return f"{n} bytes"


def _labels(pairs: list[tuple[str, str]]) -> list[str]:
    w = max((len(k) for k, _ in pairs), default=0)
    return [f"{k:<{w}}  {v}" for k, v in pairs]


# -- inputs: files, '-' and FIFOs (read once into a temporary file) --------------------------
class _Inputs:
    """Resolve input names; stdin and non-seekable files are spooled once to a private temp file."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.tmp: str | None = None

    def _spool_dir(self) -> str:
        if self.tmp is None:
            self.tmp = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="tqa-spool-"))
        return self.tmp

    def resolve(self, name: str, suffix: str = "") -> tuple[str, str, str | None]:
        """(path to read, label for messages, original path or None for stdin)."""
        if name == "-":
            if sys.stdin is None or sys.stdin.isatty():
                raise CLIError("-: stdin is a terminal; pipe data into it (e.g. cat in.wav | tqa encode - -o out.tqa)")
            return self._spool(sys.stdin.buffer, "stdin", suffix), "stdin", None
        p = pathlib.Path(name)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise CLIError(f"{name}: no such file") from None
        except OSError as exc:
            raise CLIError(f"{name}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise CLIError(f"{name}: is a directory, not a file")
        if not os.access(p, os.R_OK):
            raise CLIError(f"{name}: not readable (permission denied)")
        if not stat.S_ISREG(st.st_mode):  # a FIFO, a character device: read it once
            with open(p, "rb") as f:
                return self._spool(f, name, suffix), name, name
        return name, name, name

    def _spool(self, stream, label: str, suffix: str) -> str:
        path = os.path.join(self._spool_dir(), f"input{len(os.listdir(self._spool_dir()))}{suffix}")
        try:
            with open(path, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except OSError as exc:
            raise CLIError(f"{label}: cannot spool to {path}: {exc.strerror or exc}") from None
        return path


def _to_stdout(path: str) -> None:
    if sys.stdout.isatty():
        raise CLIError("-: refusing to write binary data to a terminal; redirect stdout or give a file name")
    sys.stdout.flush()
    with open(path, "rb") as f:
        shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
    sys.stdout.buffer.flush()


def _check_stdout_ok() -> None:
    if sys.stdout.isatty():
        raise CLIError("-: refusing to write binary data to a terminal; redirect stdout or give a file name")


# -- output naming -------------------------------------------------------------------------
def _targets(inputs: list[str], output: str | None, make_name, what: str) -> list[str]:
    """Output path per input: beside it, in folder ``output``, or ``output`` itself (one input)."""
    if output is not None and output != "-" and len(inputs) > 1 and not os.path.isdir(output):
        raise CLIError(f"-o {output}: with {len(inputs)} inputs, -o must be an existing folder")
    if output == "-" and len(inputs) > 1:
        raise CLIError(f"-o -: stdout takes one {what} only, got {len(inputs)} inputs")
    if "-" in inputs and len(inputs) > 1:
        raise CLIError("-: stdin must be the only input")
    if "-" in inputs and output is None:
        raise CLIError("-: name the output of stdin with -o FILE (or -o - for stdout)")
    names = [make_name(pathlib.Path(i).name, False) for i in inputs]
    clash = {n for n in names if names.count(n) > 1}
    out = []
    for i, n in zip(inputs, names):
        if n in clash:
            n = make_name(pathlib.Path(i).name, True)
        if output is None:
            out.append(str(pathlib.Path(i).with_name(n)))
        elif output == "-" or not os.path.isdir(output):
            out.append(output)
        else:
            out.append(str(pathlib.Path(output) / n))
    dup = {o for o in out if out.count(o) > 1 and o != "-"}
    if dup:
        raise CLIError(f"{sorted(dup)[0]}: several inputs would write this output; give them distinct names")
    return out


def _tqa_name(name: str, keep_suffix: bool) -> str:
    return name + ".tqa" if keep_suffix else str(pathlib.PurePath(name).with_suffix(".tqa"))


def _decoded_name(ext: str):
    def make(name: str, keep_suffix: bool) -> str:
        p = pathlib.PurePath(name)
        base = p.stem if p.suffix.lower() == ".tqa" else name
        if not keep_suffix and pathlib.PurePath(base).suffix.lower() in vocab.OUTPUT_FORMATS and ext is None:
            return base  # m.wav.tqa -> m.wav
        return (name if keep_suffix else base) + (ext or ".wav")

    return make


def _split_positional_output(inputs: list[str], output: str | None, is_output) -> tuple[list[str], str | None]:
    """'tqa encode in.wav out.tqa' and 'tqa decode in.tqa out.wav': the old two-name form."""
    if output is None and len(inputs) == 2 and is_output(inputs[1]):
        return inputs[:1], inputs[1]
    return inputs, output


# -- commands ----------------------------------------------------------------------------------
def cmd_encode(a: argparse.Namespace) -> int:
    opts = settings_from_args(a)
    inputs, output = _split_positional_output(
        a.inputs, a.output, lambda s: s == "-" or s.lower().endswith(".tqa"))  # fmt: skip
    targets = _targets(inputs, output, _tqa_name, "stream")
    for t in targets:
        if t != "-" and pathlib.Path(t).suffix.lower() != ".tqa":
            raise CLIError(f"{t}: encode writes .tqa files only; name the output NAME.tqa (or - for stdout)")
    out = _Out(a, "-" in targets)
    if "-" in targets:
        _check_stdout_ok()
    code = 0
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        jobs = []
        for k, (name, dst) in enumerate(zip(inputs, targets)):  # every check before any work: inputs first
            try:
                path, label, orig = res.resolve(name)
            except CLIError as exc:
                if k == 1 and len(inputs) == 2 and not os.path.exists(name) and output is None:
                    raise CLIError(f"{exc}; encode writes NAME.tqa files: to name the output, use -o NAME.tqa") from None
                raise
            try:
                info = sf.info(path)
            except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
                raise CLIError(f"{label}: not a readable audio file ({audio._sf_reason(exc)})") from None
            try:
                audio.check_channels_rate(info.channels, info.samplerate)
            except audio.AudioError as exc:
                raise CLIError(f"{label}: {exc}") from None
            jobs.append((path, label, dst, info, orig))
        for path, label, dst, info, orig in jobs:  # then every output
            if dst != "-":
                audio.check_output(dst, [orig] + [i for i in inputs if i != "-"], a.force)
        jobs = [j[:4] for j in jobs]
        reports = []
        for path, label, dst, info in jobs:
            real = dst if dst != "-" else os.path.join(res._spool_dir(), "stdout.tqa")
            bar = _Progress(info.frames, f"encode {label}", out.quiet or out.json)
            try:
                r = audio.encode_file(path, real, progress=bar, force=a.force or dst == "-", name=label, **opts)
            except (audio.AudioError, _format.FormatError, OSError) as exc:
                if len(jobs) == 1:
                    raise
                _error(exc)
                code = 2
                continue
            finally:
                bar.close()
            with open(real, "rb") as f:
                inf = api.info(f)
            if dst == "-":
                _to_stdout(real)
            if inf.get("frame_floor") is not None and inf.get("rate") and inf["bits_per_sample"] > 1.01 * inf["rate"]:
                out.warn(f"{label}: --frame-floor {inf['frame_floor']:g} took {inf['bits_per_sample']:.3f} bits/sample, "
                         f"above --rate {inf['rate']:g} (the floor wins)")  # fmt: skip
            if r.dropped_tags:
                out.warn(f"{label}: tag(s) {', '.join(r.dropped_tags)} left out: the .tqa header holds about 4 kB of tags")
            in_bytes = r.in_bytes
            rep = {"input": label, "output": dst, **inf, "input_bytes": in_bytes,
                   "kbps": _kbps(inf), "size_vs_input": inf["bytes"] / in_bytes if in_bytes else None,
                   "encode_seconds": r.seconds, "tags": r.tags, "channel_mask": r.channel_mask}  # fmt: skip
            reports.append(rep)
            out.lines(_info_lines(dst if dst != "-" else "stdout", inf, in_bytes, label,
                                  [("encoded", f"in {r.seconds:.2f} s ({_xrt(inf['duration'], r.seconds)})")]))  # fmt: skip
        out.doc(reports[0] if len(a.inputs) == 1 and reports else reports)
    return code


def _kbps(inf: dict):
    return inf["bytes"] * 8 / inf["duration"] / 1000 if inf.get("duration") else None


def _error(exc: Exception) -> None:
    print(f"tqa: error: {_message(exc)}", file=sys.stderr)


def cmd_decode(a: argparse.Namespace) -> int:
    engine = _engine(a.engine)
    ext = None if a.format is None else "." + a.format
    inputs, output = _split_positional_output(
        a.inputs, a.output,
        lambda s: s == "-" or pathlib.Path(s).suffix.lower() in vocab.OUTPUT_FORMATS)  # fmt: skip
    targets = _targets(inputs, output, _decoded_name(ext), "audio file")
    out = _Out(a, "-" in targets)
    if "-" in targets:
        _check_stdout_ok()
    code = 0
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        jobs = []
        for name, dst in zip(inputs, targets):  # every check before any work
            path, label, orig = res.resolve(name, ".tqa")
            if dst == "-":
                real = os.path.join(res._spool_dir(), "stdout" + (ext or ".wav"))
                fmt = a.format or "wav"
            else:
                real, fmt = dst, None
                audio.check_output(dst, [orig] + [i for i in inputs if i != "-"], a.force)
            with open(path, "rb") as f:
                try:
                    dec = audio.open_decoder(f, label, engine, "silence" if a.recover else "raise")
                except _format.FormatError as exc:
                    raise CLIError(f"{exc}; --recover decodes the intact frames") from None
                h = dec.header
            major = audio.output_format(real, fmt)
            st = audio.output_subtype(major, h.source_format, a.subtype)
            if major == "OGG" and a.subtype is None and real.lower().endswith(".opus"):
                st = "OPUS"
            audio.check_writable(major, st, h.sample_rate, h.channels, dst if dst != "-" else "stdout")
            first = 0 if a.start is None else _samples(a.start, h.sample_rate, "--start")
            count = None if a.duration is None else _samples(a.duration, h.sample_rate, "--duration")
            if first > h.n_samples:
                out.warn(f"{label}: --start {a.start.text} is past the end ({h.n_samples / h.sample_rate:.3f} s): "
                         "the output is empty")  # fmt: skip
            jobs.append((path, label, dst, real, fmt, h, first, count))
        reports = []
        for path, label, dst, real, fmt, h, first, count in jobs:
            total = max(0, min(h.n_samples - first, h.n_samples if count is None else count))
            bar = _Progress(total, f"decode {label}", out.quiet or out.json)
            try:
                r = audio.decode_file(path, real, start=first, frames=count, subtype=a.subtype, engine=engine,
                                      on_error="silence" if a.recover else "raise", progress=bar,
                                      force=a.force or dst == "-", fmt=fmt, name=label)  # fmt: skip
            except (audio.AudioError, _format.FormatError, OSError) as exc:
                if isinstance(exc, _format.FormatError):
                    exc = CLIError(f"{exc}; --recover decodes the intact frames")
                if len(jobs) == 1:
                    raise exc from None
                _error(exc)
                code = 2
                continue
            finally:
                bar.close()
            info = sf.info(real)
            if dst == "-":
                _to_stdout(real)
            lost = _ranges([(d["frame"], d.get("last_frame", d["frame"]), d["reason"]) for d in r.lost], label,
                           os.path.getsize(path))  # fmt: skip
            if r.problem and not r.lost:
                out.warn(f"{label}: {r.problem}")
            starts = {d["frame"]: d["start"] for d in r.lost}
            for line in lost:
                end = starts.get(line["first"], 0) >= first + r.frames
                how = "not in the output: the file ends before it" if end else "decoded as silence"
                print(f"tqa: warning: {label}: {line['text']} ({how})", file=sys.stderr)
            where = dst if dst != "-" else "stdout"
            rep = {"input": label, "output": dst, "frames": r.frames, "channels": r.channels,
                   "sample_rate": r.sample_rate, "format": info.format, "subtype": info.subtype, "bytes": r.out_bytes,
                   "decode_seconds": r.seconds, "start": first, "lost_frames": r.lost, "lost_ranges": lost,
                   "tags": r.tags, "channel_mask": r.channel_mask}  # fmt: skip
            reports.append(rep)
            out.lines([f"{where}: {r.frames} frames x {r.channels} ch, {r.sample_rate} Hz, {info.format} {info.subtype}, "
                       f"decoded in {r.seconds:.2f} s ({_xrt(r.frames / r.sample_rate, r.seconds)})"])  # fmt: skip
        out.doc(reports[0] if len(a.inputs) == 1 and reports else reports)
    return code


def _samples(spec: timespec.TimeSpec, rate: int, what: str) -> int:
    try:
        return spec.samples(rate, what)
    except timespec.TimeSpecError as exc:
        raise CLIError(str(exc)) from None


# one phrase per profile for `tqa info` (display only; settings come from the profile's fields)
_PROFILE_NOTES = {"time": "rotated blocks of {block_size}", "spectral": "MDCT hop {hop}"}


def _info_lines(path: str, inf: dict, input_bytes: int | None = None, source: str | None = None,
                more: list | None = None) -> list[str]:  # fmt: skip
    pairs = [("file", path)]
    if source is not None:
        pairs.append(("source", source))
    fields = [f for f in _field_defaults(inf["profile"]) if inf.get(f) not in (None, 0) or f == "seed"]
    mode = f", {inf['mode'].upper()}" if inf.get("mode") else ""
    note = _PROFILE_NOTES.get(inf["profile"], "").format(**inf)
    pairs.append(("format", f".tqa v{inf['version']}, profile {inf['profile']}{f' ({note})' if note else ''}{mode}"))
    pairs.append(("settings", ", ".join(f"{f.replace('_', ' ')} {inf[f]}" for f in fields)))
    pairs.append(("audio", f"{inf['channels']} ch, {inf['sample_rate']} Hz, {inf['frames']} frames "
                           f"({inf['duration']:.3f} s), source {inf['source_format']}"))  # fmt: skip
    kbps = _kbps(inf)
    pairs.append(("size", f"{_size(inf['bytes'])} in {inf['tqa_frames']} frames"))
    pairs.append(("bitrate", (f"{kbps:.1f} kbps, " if kbps else "") + f"{inf['bits_per_sample']:.3f} bits/sample "
                             "(headers, CRCs and side info included)"))  # fmt: skip
    pairs.append(("vs PCM", f"{inf['ratio']:.2f}x smaller than the {inf['source_bytes']} bytes of source PCM"))
    if input_bytes:
        pairs.append(("vs input", f"{100 * inf['bytes'] / input_bytes:.1f}% of the input file ({input_bytes} bytes)"))
    if inf.get("nominal_sqnr_db") is not None:
        pairs.append(("nominal", f"{inf['nominal_sqnr_db']:.2f} dB SQNR on Gaussian data"))
    if inf.get("tags"):
        pairs.append(("tags", ", ".join(f"{k}={v}" for k, v in inf["tags"].items())))
    if inf.get("channel_mask"):
        pairs.append(("layout", f"channel mask 0x{inf['channel_mask']:x}"))
    return _labels(pairs + (more or []))


def cmd_info(a: argparse.Namespace) -> int:
    out = _Out(a)
    reports, code = [], 0
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        for i, name in enumerate(a.inputs):
            try:
                path, label, _ = res.resolve(name, ".tqa")
                with open(path, "rb") as f:
                    inf = api.info(f, label)
            except (CLIError, _format.FormatError, OSError) as exc:
                if len(a.inputs) == 1:
                    raise
                _error(exc)
                code = 2
                continue
            if inf.get("problem"):
                print(f"tqa: warning: {label}: {inf['problem']}", file=sys.stderr)
            reports.append({"file": label, **inf, "kbps": _kbps(inf)})
            out.lines(([""] if i else []) + _info_lines(label, inf))
    out.doc(reports[0] if len(a.inputs) == 1 and reports else reports)
    return code


def _problem(msg: str, label: str) -> tuple[int | None, str]:
    """'NAME: frame 12 is damaged (CRC mismatch)' -> (None, 'is damaged (CRC mismatch)');
    'NAME: frames 35-107 missing: ...' -> (107, 'missing: ...')."""
    import re

    for prefix in (label + ": ", "stream: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    m = re.match(r"^frames (\d+)-(\d+):? (.*)$", msg)
    if m:
        return int(m.group(2)), m.group(3)
    return None, re.sub(r"^frame \d+(, channel \d+)?:? ?", "", msg)


def _ranges(bad: list, label: str, size: int | None = None, n_frames: int | None = None) -> list[dict]:
    """Consecutive frames with the same problem as one range.

    ``bad``: (frame, problem) pairs, or (frame, last frame, problem) triples.
    """
    import re

    out: list[dict] = []
    for item in bad:
        frame, last, msg = item if len(item) == 3 else (item[0], None, item[1])
        end, p = _problem(msg, label)
        last = max(x for x in (frame, last, end) if x is not None)
        m = re.match(r"(?:missing: )?truncated: header declares (\d+) frames \((\d+) bytes\), file has (\d+) bytes", p)
        if m:
            p = f"missing: file ends at byte {m.group(3)} (the header declares {m.group(1)} frames, {m.group(2)} bytes)"
        elif p.startswith("is truncated") or p.startswith("missing") and "byte" not in p:
            p = "missing: the file ends early" + (f" at byte {size}" if size is not None else "")
        if out and out[-1]["problem"] == p and out[-1]["last"] == frame - 1:
            out[-1]["last"] = last
        else:
            out.append({"first": frame, "last": last, "problem": p})
    for r in out:
        n = r["last"] - r["first"] + 1
        if "after the last frame" in r["problem"] or (n_frames is not None and r["first"] >= n_frames):
            r["text"] = r["problem"]  # not a frame's problem: trailing data, the index
        elif n == 1:
            r["text"] = f"frame {r['first']}: {r['problem']}"
        else:
            r["text"] = f"frames {r['first']}\u2013{r['last']} ({n}): {r['problem']}"
    return out


def cmd_verify(a: argparse.Namespace) -> int:
    out = _Out(a)
    reports, worst = [], 0
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        for name in a.inputs:
            try:
                path, label, _ = res.resolve(name, ".tqa")
                size = os.path.getsize(path)
                with open(path, "rb") as f:
                    bad = api.verify(f, label)
                with open(path, "rb") as f:
                    dec = audio.open_decoder(f, label, None, "silence")
                    h, n_frames = dec.header, dec.reader.n_frames
            except (CLIError, _format.FormatError, OSError) as exc:
                if len(a.inputs) == 1:
                    raise
                _error(exc)
                worst = 2
                continue
            ranges = _ranges(bad, label, size, n_frames)
            damaged = sum(min(r["last"], n_frames - 1) - r["first"] + 1 for r in ranges if r["first"] < n_frames)
            rep = {"file": label, "frames": n_frames, "bytes": size, "ok": not bad, "damaged_frames": damaged,
                   "ranges": [{k: r[k] for k in ("first", "last", "problem")} for r in ranges],
                   "damaged": [{"frame": i, "problem": p} for i, p in bad]}  # fmt: skip
            reports.append(rep)
            if not bad:
                out.lines([f"{label}: ok, {n_frames} frames intact"])
            else:
                head = f"{damaged} of {n_frames} frames" if damaged else f"all {n_frames} frames intact"
                out.lines([f"{label}: DAMAGED, {head}"] + [f"  {r['text']}" for r in ranges])
                worst = max(worst, 1)
    out.doc(reports[0] if len(a.inputs) == 1 and reports else reports)
    return worst


def cmd_run(a: argparse.Namespace) -> int:
    pos = list(a.pos)
    src = a.input or (pos.pop(0) if pos else None)
    dst = a.output or (pos.pop(0) if pos else None)
    if pos:
        raise CLIError(f"unexpected argument {pos[0]!r} (see 'tqa run --help')")
    if src is None:
        raise CLIError("missing input file (-i INPUT)")
    if dst is None:
        raise CLIError("missing output file (-o OUTPUT)")
    if a.backend is not None and a.engine is not None and a.backend != a.engine:
        raise CLIError("give --backend or --engine, not both")
    if a.backend is not None:
        a.engine = a.backend
    opts = settings_from_args(a)
    out = _Out(a)
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        path, label, orig = res.resolve(src)
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise CLIError(f"{label}: not a readable audio file ({audio._sf_reason(exc)})") from None
        # every check before any work: the decoded output, the kept stream, the writer's limits
        major = audio.output_format(dst)
        if audio.same_file(dst, path) or (orig and audio.same_file(dst, orig)):
            raise CLIError(f"{dst}: is the input file; refusing to write over it (even with --force)")
        audio.check_output(dst, [orig], a.force)
        if a.keep is not None:
            if pathlib.Path(a.keep).suffix.lower() != ".tqa":
                raise CLIError(f"--keep {a.keep}: the kept stream is a .tqa file; name it NAME.tqa")
            if audio.same_file(a.keep, dst):
                raise CLIError(f"--keep {a.keep}: is the output file too; give two names")
            audio.check_output(a.keep, [orig], a.force)
        st = audio.output_subtype(major, audio.source_format(info.subtype)[0], a.subtype)
        audio.check_writable(major, st, info.samplerate, info.channels, dst)
        audio.check_channels_rate(info.channels, info.samplerate)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tqa-run-"))
        tqa_path = a.keep or os.path.join(tmp, "out.tqa")
        quiet = out.quiet or out.json
        report = audio.round_trip(path, dst, tqa_path, opts, subtype=a.subtype, force=a.force,
                                  progress=lambda n, d: _Progress(n, d, quiet))  # fmt: skip
        report["input"] = label
        report["tqa"] = a.keep
    out.lines(_run_lines(report))
    out.doc(report)
    return 0


def _how(inf: dict) -> str:
    """The stream's settings in a few words, from the profile's own field names."""
    fields = [f for f in _field_defaults(inf["profile"]) if inf.get(f) not in (None, 0) and f != "seed"]
    return f"{inf.get('profile')}: " + ", ".join(f"{f.replace('_', ' ')} {inf[f]}" for f in fields)


def _run_lines(r: dict) -> list[str]:
    inf = r["info"]
    kbps = f"{r['kbps']:.1f} kbps, " if r.get("kbps") else ""
    vs = f", {100 * r['size_vs_input']:.1f}% of the input file" if r.get("size_vs_input") else ""
    return _labels([
        ("source", f"{r['input']}: {r['input_format']}, {r['channels']} ch, {r['sample_rate']} Hz, "
                   f"{r['duration']:.2f} s, {r['input_bytes']} bytes on disk"),
        ("tqa", f"{r['tqa_bytes']} bytes ({_how(inf)})" + (f", kept at {r['tqa']}" if r.get("tqa") else "")),
        ("bitrate", f"{kbps}{r['bits_per_sample']:.3f} bits/sample (headers, CRCs and side info included)"),
        ("size", f"{r['ratio']:.2f}x smaller than the source PCM ({r['source_pcm_bytes']} bytes of "
                 f"{r['source_format']}){vs}"),
        ("SQNR", f"{_fmt_db(r['sqnr_db'])}   per channel: " + ", ".join(_fmt_db(v) for v in r["sqnr_db_per_channel"])),
        ("encode", f"{r['encode_seconds']:.2f} s ({_xrt(r['duration'], r['encode_seconds'])})"),
        ("decode", f"{r['decode_seconds']:.2f} s ({_xrt(r['duration'], r['decode_seconds'])})"),
        ("output", f"{r['output']}: {r['output_format']}"),
    ])  # fmt: skip


def _read_any(name: str, res: _Inputs) -> tuple[np.ndarray, int, str]:
    """An audio file or a .tqa stream as float64 (n, channels)."""
    path, label, _ = res.resolve(name)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == _format.MAGIC or label.lower().endswith(".tqa"):
        with open(path, "rb") as f:
            dec = audio.open_decoder(f, label)
            x = dec.read(dtype="float64")
            sr = dec.header.sample_rate
        return np.asarray(x).reshape(len(x), -1), sr, label
    try:
        x, sr = sf.read(path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise CLIError(f"{label}: not a readable audio file ({audio._sf_reason(exc)})") from None
    return x, sr, label


def _perceptual_lines(m: dict, skipped: bool) -> list[tuple[str, str]]:
    """compare's Zimtohrli / ViSQOL report lines (or the install hint)."""
    from .perceptual import HINT

    if skipped:
        return []
    if HINT in m["perceptual_notes"]:
        return [("perceptual", HINT)]

    def why(key: str) -> str:
        notes = [n.split(": ", 1)[1] for n in m["perceptual_notes"] if n.startswith(key + ": ")]
        return "undefined" + (f" ({notes[0]})" if notes else "")

    z, v = m["zimtohrli_distance"], m["visqol_mos_lqo"]
    return [
        ("Zimtohrli", f"{z:.4g} (distance, 0 = identical, lower is better; worst channel, at 48 kHz)" if z is not None
         else why("zimtohrli_distance")),
        ("ViSQOL MOS-LQO", f"{v:.3f} (1..5, higher is better, ~4.73 = perfect; audio mode, mono mix at 48 kHz)"
         if v is not None else why("visqol_mos_lqo")),
    ]  # fmt: skip


def cmd_compare(a: argparse.Namespace) -> int:
    pos = list(a.pos)
    f1 = a.f1 or (pos.pop(0) if pos else None)
    f2 = a.f2 or (pos.pop(0) if pos else None)
    if pos:
        raise CLIError(f"unexpected argument {pos[0]!r} (see 'tqa compare --help')")
    if f1 is None:
        raise CLIError("missing reference file (REFERENCE CODED, or -f1 FILE)")
    if f2 is None:
        raise CLIError("missing coded file (REFERENCE CODED, or -f2 FILE)")
    out = _Out(a)
    if a.plot:
        if pathlib.Path(a.plot).suffix.lower().lstrip(".") not in ("png", "pdf", "svg", "jpg", "jpeg"):
            raise CLIError(f"--plot {a.plot}: give a .png, .pdf, .svg or .jpg file name")
        audio.check_output(a.plot, [f1, f2], a.force)
        from . import plot as _plot

        try:
            _plot._pyplot()
        except _plot.PlotUnavailable as exc:
            raise CLIError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        res = _Inputs(stack)
        x, ra, l1 = _read_any(f1, res)
        y, rb, l2 = _read_any(f2, res)
    if ra != rb:
        raise CLIError(f"sample rates differ: {l1} is {ra} Hz, {l2} is {rb} Hz")
    if x.shape[1] != y.shape[1]:
        raise CLIError(f"channel counts differ: {l1} has {x.shape[1]}, {l2} has {y.shape[1]}")
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    m = metrics.compare(x, y, ra)
    if a.no_perceptual:
        m.update(zimtohrli_distance=None, visqol_mos_lqo=None, perceptual_notes=["skipped (--no-perceptual)"])
    else:
        from . import perceptual

        m.update(perceptual.measure(x, y, ra))
    m.update(reference=l1, coded=l2, sample_rate=ra, reference_frames=len(x), coded_frames=len(y))
    if a.plot:
        from . import plot as _plot

        title = f"{l1} vs {l2}: SQNR {_fmt_db(m['sqnr_db'])}, {ra} Hz, {x.shape[1]} ch"
        if l2.lower().endswith(".tqa") or l1.lower().endswith(".tqa"):
            with open(res_path := (f2 if l2.lower().endswith(".tqa") else f1), "rb") as f:
                title += f"\n{res_path}: {_how(api.info(f))}"
        fmt = pathlib.Path(a.plot).suffix.lower().lstrip(".")
        with audio.atomic_output(a.plot, (f1, f2), a.force) as f:
            _plot.save_comparison(x, y, ra, f, "jpg" if fmt == "jpeg" else fmt, title=title)
        m["plot"] = a.plot
    lines = _labels([
        ("reference", l1),
        ("coded", l2),
        ("frames", f"{m['frames']} x {m['channels']} ch at {ra} Hz (aligned to the shorter file)"),
        ("MSE", f"{m['mse']:.3e} (full scale 1.0)"),
        ("SQNR", f"{_fmt_db(m['sqnr_db'])}   per channel: " + ", ".join(_fmt_db(v) for v in m["sqnr_db_per_channel"])),
        ("segmental SNR", f"{m['segmental_snr_db']:.2f} dB (20 ms segments, clipped to -10..60 dB)"),
        ("correlation", f"{m['correlation']:.6f}"),
        ("peak delta", f"{m['peak_delta']:.6f} (full scale 1.0)"),
        ("envelope corr.", f"{m['envelope_correlation']:.6f}"),
        ("log-spectral dist.", f"{m['log_spectral_distance_db']:.3f} dB"),
    ] + _perceptual_lines(m, a.no_perceptual) + ([("plot", a.plot)] if a.plot else []))  # fmt: skip
    out.lines(lines)
    out.doc(m)
    return 0


def cmd_sim(a: argparse.Namespace) -> int:
    out = _Out(a)
    opts = settings_from_args(a)
    if a.output is not None:
        major = audio.output_format(a.output)
        st = audio.output_subtype(major, 4, a.subtype)
        audio.check_writable(major, st, a.sr, 1, a.output)
        audio.check_output(a.output, (), a.force)
    try:
        x = signals.generate(a.type, a.frequency, a.duration, a.spikes, a.amplitude, a.sr,
                             block_size=opts.get("block_size", 512))  # fmt: skip
    except ValueError as exc:
        raise CLIError(f"--duration: {exc}" if "samples" in str(exc) else str(exc)) from None
    if a.output is not None:
        with audio.atomic_path(a.output, (), a.force) as tmp:
            sf.write(tmp, x, a.sr, subtype=st, format=major)
        out.lines([f"wrote {a.output}: {a.type}, {x.size} samples at {a.sr} Hz ({st})"])
        out.doc({"output": a.output, "type": a.type, "frames": x.size, "sample_rate": a.sr, "subtype": st})
        return 0
    kw = {k: v for k, v in opts.items() if v is not None}
    t0 = time.perf_counter()
    data = api.encode(x, a.sr, **kw)
    t1 = time.perf_counter()
    y, _ = api.decode(data, engine=opts["engine"])
    t2 = time.perf_counter()
    inf = api.info(data)
    snr = metrics.sqnr_db(x, y)
    report = {"type": a.type, "frames": int(x.size), "sample_rate": a.sr, "source_bytes": int(x.nbytes), "tqa_bytes": len(data),
              "ratio": inf["ratio"], "bits_per_sample": inf["bits_per_sample"], "kbps": _kbps(inf),
              "mse": float(np.mean((x - y.astype(np.float64)) ** 2)) if x.size else 0.0,
              "sqnr_db": snr, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1}  # fmt: skip
    nominal = f"  (nominal on Gaussian data: {inf['nominal_sqnr_db']:.2f} dB)" if inf.get("nominal_sqnr_db") else ""
    pairs = [
        ("signal", f"{a.type}, {a.frequency} Hz, {a.duration} s, {a.spikes} spikes, amplitude {a.amplitude}, {a.sr} Hz"),
        ("source", f"{x.nbytes} bytes (float32)"),
        ("tqa", f"{len(data)} bytes ({_how(inf)}): {inf['ratio']:.2f}x smaller, {inf['bits_per_sample']:.3f} bits/sample"),
        ("MSE", f"{report['mse']:.3e}"),
        ("SQNR", f"{_fmt_db(snr)}{nominal}"),
    ]
    if a.spikes and x.size:
        idx = np.sort(np.argsort(np.abs(x))[-min(int(a.spikes), 10) :])
        pairs.append(("spikes", ", ".join(f"[{i}] {x[i]:+.4f} -> {y[i]:+.4f}" for i in idx)))
    out.lines(_labels(pairs))
    out.doc(report)
    return 0


def cmd_engines(a: argparse.Namespace) -> int:
    names = registry.engines()
    rule = f"scipy for batches below {registry.TILED_FROM_SAMPLES} samples once SciPy is loaded, tiled otherwise"
    if a.json:
        print(_dumps({"engines": names, "default": "auto", "auto_rule": rule}))
    else:
        print("engines: " + ", ".join(names))
        print(f"default: auto ({rule})")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    out = _Out(a)
    with tempfile.TemporaryDirectory(prefix="tqa-demo-") as tmp:
        folder = pathlib.Path(a.output) if a.output else pathlib.Path(tmp)
        names = [folder / n for n in ("demo.wav", "demo.tqa", "demo_decoded.wav")]
        if a.output:
            if folder.exists() and not folder.is_dir():
                raise CLIError(f"-o {folder}: exists and is not a folder")
            if not a.force:
                for p in names:
                    if p.exists():
                        raise CLIError(f"{p}: already exists; use -f/--force to replace it")
            folder.mkdir(parents=True, exist_ok=True)
        src = names[0]
        with audio.atomic_path(src, (), True) as tmp:
            sf.write(tmp, signals.demo_signal(), 44100, subtype="PCM_16", format="WAV")
        quiet = out.quiet or out.json
        report = audio.round_trip(str(src), str(names[2]), str(names[1]) if a.output else str(folder / "demo.tqa"),
                                  {"profile": _settings.DEFAULT, "engine": None}, force=True,
                                  progress=lambda n, d: _Progress(n, d, quiet))  # fmt: skip
        report["tqa"] = str(names[1]) if a.output else None
        lines = ["TQA demo: a built-in 6 s stereo piece (chords, bass, kick, hi-hat), 16-bit 44.1 kHz", ""]
        lines += _run_lines(report)
        if not a.output:
            lines += ["", "(files were written to a temporary folder; pass -o DIR to keep them)"]
        out.lines(lines)
        out.doc(report)
    return 0


def cmd_batch(a: argparse.Namespace) -> int:
    opts = settings_from_args(a)
    out = _Out(a)
    ext = "." + a.format
    src, dst = pathlib.Path(a.source), pathlib.Path(a.destination)
    if not src.is_dir():
        raise CLIError(f"{src}: not a folder")
    if dst.exists() and not dst.is_dir():
        raise CLIError(f"{dst}: exists and is not a folder")
    if dst.resolve().is_relative_to(src.resolve()):
        raise CLIError(f"{dst}: the destination must not be inside the source folder")
    try:
        from . import batch as _batch

        _batch._dask()
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    bar = None
    if not (out.quiet or out.json) and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, desc="batch", unit=" files", file=sys.stderr, delay=1.0, leave=False)

    def planned(n: int) -> None:
        if bar is not None:
            bar.total = n
            bar.refresh()

    try:
        s = _batch.run_batch(src, dst, decode=a.decode, out_ext=ext, subtype=a.subtype, workers=a.workers,
                             scheduler=a.scheduler, verify=a.verify, dashboard=a.dashboard,
                             progress=(lambda r: bar.update(1)) if bar is not None else None, planned=planned,
                             **opts)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    pairs = [
        ("files", f"{s['files']} done, {s['skipped_complete']} already complete, {s['failed']} failed "
                  f"({s['workers']} workers, {s['wall_seconds']:.1f} s)"),
        ("audio", f"{s['audio_hours']:.3f} hours" + (f" ({s['x_realtime']:.0f}x real time)" if s["files"] and s["x_realtime"] else "")),
        ("bytes", f"{s['input_bytes']} in, {s['output_bytes']} out"
                  + (f"; {s['ratio_vs_pcm']:.2f}x smaller than the source PCM" if s["ratio_vs_pcm"] else "")),
    ]  # fmt: skip
    if s.get("sqnr_db_mean") is not None:
        pairs.append(("SQNR", f"mean {s['sqnr_db_mean']:.2f} dB, worst {s['sqnr_db_worst']:.2f} dB"))
    if s.get("segments_reused"):
        pairs.append(("resumed", f"{s['segments_reused']} segments kept from an interrupted run"))
    pairs += [("skipped", f"{k['file']}: {k['reason']}") for k in s.get("skipped", [])]
    pairs += [("FAILED", f"{f['file']}: {f['error']}") for f in s["failures"]]
    out.lines(_labels(pairs))
    out.doc(s)
    return 1 if s["failed"] else 0


HANDLERS = {
    "encode": cmd_encode, "decode": cmd_decode, "run": cmd_run, "compare": cmd_compare, "sim": cmd_sim,
    "info": cmd_info, "verify": cmd_verify, "batch": cmd_batch, "engines": cmd_engines, "demo": cmd_demo,
}  # fmt: skip


# -- the driver --------------------------------------------------------------------------------
def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, ValueError):  # tqa.audio.AudioError is a ValueError
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def run(argv: list[str], prog: str = "tqa") -> int:
    """Parse ``argv`` and run the command: the exit status (0, 1, 2 or 130); never raises."""
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            near = _close(argv[0], list(COMMANDS), cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f"; commands: {', '.join(COMMANDS)}"
            raise CLIError(f"unknown command '{argv[0]}'{hint}")
        parser = parser_for(prog)
        if not argv:
            parser.print_help()
            return 0
        a, extra = parser.parse_known_args(argv)
        if a.command is None:
            if extra:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            parser.print_help()
            return 0
        if extra:
            parser.commands[a.command].error(f"unrecognized arguments: {' '.join(extra)}")
        with warnings.catch_warnings():  # the commands report damage themselves, in one line
            warnings.simplefilter("ignore", api.UnfinishedStreamWarning)
            warnings.simplefilter("ignore", api.DamagedFramesWarning)
            return HANDLERS[a.command](a)
    except _Exit as exc:
        return exc.code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:
        _quiet_pipe()
        return 141
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, OSError, MemoryError, timespec.TimeSpecError) as exc:
        # (tqa.format.FormatError and tqa.audio.AudioError are ValueErrors: named here, they would be imported)
        if isinstance(exc, OSError) and exc.errno == 32:  # EPIPE from a write on a pipe
            _quiet_pipe()
            return 141
        msg = _message(exc) if not isinstance(exc, MemoryError) else "out of memory"
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line (TQA_DEBUG=1 shows the traceback)
        if os.environ.get("TQA_DEBUG"):
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_message(exc)} (TQA_DEBUG=1 shows where; "
              "please report it)", file=sys.stderr)  # fmt: skip
        return 2


def _quiet_pipe() -> None:
    """The reader went away (``| head``): no message, and no second error at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _entry(argv: list[str], prog: str) -> int:
    old = None
    with contextlib.suppress(ValueError):  # only in the main thread
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = run(argv, prog)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_pipe()
            code = 141
        return code
    except KeyboardInterrupt:  # between the handlers above and here
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, old)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``tqa`` (and ``python -m tqa``)."""
    sys.exit(_entry(sys.argv[1:] if argv is None else [str(x) for x in argv], "tqa"))


def legacy_cli(argv: list[str] | None = None) -> None:
    """audiotq's ``tqa-cli run -i in.wav -o out.wav`` and ``tqa-cli compare -f1 a -f2 b``."""
    sys.exit(_entry(sys.argv[1:] if argv is None else [str(x) for x in argv], "tqa-cli"))


def legacy_sim(argv: list[str] | None = None) -> None:
    """audiotq's ``tqa-sim --type square --frequency 440 --duration 2.0 --spikes 5``."""
    args = sys.argv[1:] if argv is None else [str(x) for x in argv]
    sys.exit(_entry(["sim", *args], "tqa-sim"))
