"""Coverage-guided fuzzing of the .tqa decoder with atheris (long campaigns).

    pip install atheris
    python tools/fuzz_atheris.py -atheris_runs=1000000 [corpus_dir]

Starts from the small valid streams of tqa.fuzz.seed_streams() (written into the
corpus folder if it is empty).  The decoder must return samples of the declared
shape or raise tqa.FormatError; any other exception is a crash that atheris
reports with the input that caused it - add it to tests/test_fuzz.py.
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from tqa import fuzz


def one_input(data: bytes) -> None:
    fuzz.check(data)


def main() -> None:
    dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    if dirs:
        os.makedirs(dirs[0], exist_ok=True)
        if not os.listdir(dirs[0]):
            for i, s in enumerate(fuzz.seed_streams()):
                with open(os.path.join(dirs[0], f"seed{i}.tqa"), "wb") as f:
                    f.write(s)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
