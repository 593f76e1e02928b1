"""Ctrl-C during a command's start ends as one line, exit 130 (the moments after start-up:
tests/test_cli_smoke.py)."""

import subprocess



def test_ctrl_c_while_the_codec_imports():
    """Deterministic: KeyboardInterrupt raised inside the import of tqa.cli (NumPy loading)."""
    import sys

    code = ("import builtins, sys\nreal = builtins.__import__\n"
            "def imp(name, g=None, l=None, fromlist=(), level=0):\n"
            "    if 'cli' in (fromlist or ()) or name == 'numpy':\n        raise KeyboardInterrupt\n"
            "    return real(name, g, l, fromlist, level)\n"
            "builtins.__import__ = imp\nfrom tqa._entry import main\nmain()\n")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 130 and p.stderr == "tqa: interrupted\n", p.stderr


def test_import_tqa_is_lazy():
    import sys

    code = "import sys, tqa; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_building_the_command_line_loads_no_engine():
    """The parser lists engines by name; loading one (numba: ~0.3 s) waits for a command that uses it."""
    import sys

    code = "import sys; from tqa.cli import parser_for; parser_for(); print('numba' in sys.modules, 'tqa.backends.tiled' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


_HEAVY = ("numpy", "scipy", "numba", "soundfile", "cffi", "tqdm", "importlib.metadata")


def _loaded_after(code: str) -> list[str]:
    import sys

    probe = "import sys\n" + code + f"\nprint(' '.join(m for m in {_HEAVY!r} if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return p.stdout.split()


def test_the_command_line_starts_without_numpy():
    """``import tqa.cli``, building its parser and parsing a command line with settings load no NumPy,
    SciPy, numba, soundfile or tqdm (issue 15: ~70 ms of NumPy for ``tqa --help``): the parser's
    defaults and ranges come from tqa.profiles.settings, the codecs load when a command runs."""
    assert _loaded_after("import sys, tqa.cli") == []
    code = ("import sys, tqa.cli as c\n"
            "a = c.parser_for().parse_args(['encode', 'x.wav', '--bits', '5', '--block-size', '256'])\n"
            "assert c.settings_from_args(a)['bits'] == 5\n"
            "c.parser_for().parse_args(['encode', 'x.wav', '--profile', 'spectral2', '--rate', '2.5'])\n")  # fmt: skip
    assert _loaded_after(code) == []
    assert _loaded_after("import io, contextlib, tqa.cli as c\nwith contextlib.redirect_stdout(io.StringIO()):\n"
                         "    assert c.run(['--help']) == 0 and c.run(['info', '--help']) == 0") == []  # fmt: skip


def test_settings_table_is_the_profiles_own():
    """One home: each profile's Settings class is the settings module's, the names agree, and the
    checks still take NumPy scalars once NumPy is loaded (and refuse NumPy bools as numbers)."""
    import numpy as np
    import pytest

    from tqa import blockcodec, profiles
    from tqa.profiles import settings

    assert profiles.names() == settings.names() == ["time", "spectral", "spectral2"]
    for name in settings.names():
        p = profiles.get(name)
        assert p.name == name and p.Settings is settings.SETTINGS[name] and profiles.by_id(p.id) is p
        assert p.settings() == settings.settings(name)
    assert blockcodec.Settings is settings.BlockSettings
    s = settings.settings("time", block_size=np.int64(256), bits=np.int32(4), seed=np.uint64(7))
    assert (s.block_size, s.bits, s.seed) == (256, 4, 7) and type(s.block_size) is int
    assert settings.settings("spectral", rate=np.float32(2.5)).rate == 2.5
    assert settings.settings("spectral2", rotate=np.bool_(True)).rotate is True
    for bad in (dict(bits=np.bool_(True)), dict(block_size=True), dict(seed=-1), dict(bits=6.0)):
        with pytest.raises(ValueError):
            settings.settings("time", **bad)
    with pytest.raises(ValueError):
        settings.settings("spectral", rate=np.bool_(True))
    with pytest.raises(TypeError, match="takes no setting hop"):
        settings.settings("time", hop=1024)
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        profiles.get("nope")
