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
