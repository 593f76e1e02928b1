"""tqa.threads: one BLAS thread per codec call by default, opt-in by TQA_THREADS / threads=."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tqa
from tqa import threads
from tqa.registry import get_engine


def blas_threads() -> set[int]:
    return {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}


needs_blas = pytest.mark.skipif(not blas_threads(), reason="no BLAS library loaded that threadpoolctl can see")


def test_threads_resolution(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.threads() == 1
    assert threads.threads(3) == 3
    assert threads.threads(0) is None
    monkeypatch.setenv(threads.ENV, "4")
    assert threads.threads() == 4
    assert threads.threads(2) == 2  # the argument wins over the environment
    for off in ("auto", "0", "AUTO"):
        monkeypatch.setenv(threads.ENV, off)
        assert threads.threads() is None
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ValueError, match="TQA_THREADS"):
        threads.threads()
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            threads.threads(bad)


@needs_blas
def test_limit_caps_blas_and_restores(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    before = blas_threads()
    with threads.limit() as n:
        assert n == 1
        assert blas_threads() == {1}
        with threads.limit(2):  # nested: the outer limit stays
            assert blas_threads() == {1}
        assert blas_threads() == {1}
    assert blas_threads() == before


@needs_blas
def test_env_opt_out_leaves_pools_alone(monkeypatch):
    monkeypatch.setenv(threads.ENV, "auto")
    before = blas_threads()
    with threads.limit() as n:
        assert n is None
        assert blas_threads() == before


def test_decorator_consumes_threads_keyword():
    @threads.limited
    def f(a, b=1):
        return a + b, blas_threads()

    total, inside = f(1, b=2, threads=1)
    assert total == 3
    assert not inside or inside == {1}


@needs_blas
@pytest.mark.parametrize("profile", ["time", "spectral"])
def test_codec_runs_with_one_blas_thread(monkeypatch, profile):
    """Every engine kernel call of encode and decode sees one BLAS thread."""
    monkeypatch.delenv(threads.ENV, raising=False)
    seen = []
    for name in tqa.engines():
        eng = get_engine(name)
        for k in ("rotate", "unrotate", "analyze", "synthesize"):
            orig = getattr(eng, k)
            monkeypatch.setattr(eng, k, lambda *a, _o=orig: seen.append(blas_threads()) or _o(*a))
    x = np.random.default_rng(1).normal(0, 0.1, (20000, 2))
    data = tqa.encode(x, 44100, profile=profile)
    tqa.decode(data)
    assert seen and all(s == {1} for s in seen)


def test_tune_allocator(monkeypatch):
    monkeypatch.setenv("TQA_MALLOC", "default")
    assert threads.tune_allocator() is False
    monkeypatch.delenv("TQA_MALLOC")
    import sys

    applied = threads.tune_allocator()
    assert applied is (sys.platform.startswith("linux") and applied)  # a bool; True on glibc
    x = np.random.default_rng(2).normal(0, 0.1, (9000, 2))
    assert tqa.decode(tqa.encode(x, 8000, profile="time"))[0].shape == x.shape


def _preset_child(env_extra: dict, code: str) -> list[str]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in threads.POOL_VARIABLES and k != threads.ENV}
    env.update(env_extra)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return p.stdout.split()


def test_preset_starts_the_pools_at_one_thread():
    """The CLI's start (tqa._entry): BLAS pools start at TQA_THREADS threads, so the codec needs no
    threadpoolctl; a user's own OPENBLAS_NUM_THREADS, TQA_THREADS=auto, or NumPy already loaded: nothing."""
    code = ("import sys\nfrom tqa import threads\nn = threads.preset()\nimport numpy as np, tqa\n"
            "tqa.decode(tqa.encode(np.random.default_rng(0).normal(0, .1, (9000, 2)), 8000))\n"
            "used = 'threadpoolctl' in sys.modules\nfrom threadpoolctl import threadpool_info\n"
            "print(n, used, sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))")  # fmt: skip
    assert _preset_child({}, code) == ["1", "False", "[1]"]
    assert _preset_child({"TQA_THREADS": "2"}, code) == ["2", "False", "[2]"]
    assert _preset_child({"OPENBLAS_NUM_THREADS": "2"}, code)[:2] == ["None", "True"]  # limit() caps them
    assert _preset_child({"TQA_THREADS": "auto"}, code)[:2] == ["None", "False"]
    late = "import numpy\nfrom tqa import threads\nprint(threads.preset())"
    assert _preset_child({}, late) == ["None"]
