"""Console entry points (``tqa``, ``tqa-cli``, ``tqa-sim``): Ctrl-C is caught from the first
instruction, before NumPy and the codec load (~0.3 s), and ends as one line, exit 130."""

from __future__ import annotations

import sys


def _run(name: str, prog: str) -> None:
    try:
        from . import threads

        threads.tune_allocator()  # a one-shot process: no page-fault storm per chunk (TQA_MALLOC=default: off)
        threads.preset()  # BLAS pools start at one thread (TQA_THREADS): no threadpoolctl, no idle pool threads
        from . import cli
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    getattr(cli, name)()


def main() -> None:
    _run("main", "tqa")


def legacy_cli() -> None:
    _run("legacy_cli", "tqa-cli")


def legacy_sim() -> None:
    _run("legacy_sim", "tqa-sim")
