"""The sv2 encoder's step search (tqa.sv2: rate model, secant, size prediction, hop choice) and
the decoder's table set-up: the passes it takes, the sizes it lands at, and the shortcuts
giving the values of the plain computations they replace."""

from __future__ import annotations

import numpy as np
import pytest

from tqa import sv2
from tqa.sv2 import codec, rans

from test_sv2 import _music as _sv2_music  # tests/ is on the path, as for fmtspec

SR = 44100


def _music(n: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """test_sv2's signal with more noise (the figures of these tests were set on it)."""
    return _sv2_music(n, channels, seed, noise=0.01)


class _Passes:
    """Counts the whole-stream passes of an encode: counts (quantize + statistics) and codes, and
    the frames quantized in all (the step search's evaluations included)."""

    def __init__(self, monkeypatch) -> None:
        self.counts = self.codes = self.frames = 0
        counts, code, quantize = sv2._Stream.counts, sv2._Stream.code, codec.quantize

        def qn(A, *a, **k):
            self.frames += A.X.shape[0]
            return quantize(A, *a, **k)

        monkeypatch.setattr(codec, "quantize", qn)

        def c(s, *a, **k):
            self.counts += 1
            return counts(s, *a, **k)

        def p(s, *a, **k):
            self.codes += 1
            return code(s, *a, **k)

        monkeypatch.setattr(sv2._Stream, "counts", c)
        monkeypatch.setattr(sv2._Stream, "code", p)


@pytest.mark.parametrize("channels, rate", [(2, 3.2), (1, 2.0), (2, 4.5)])
def test_short_streams_are_counted_and_coded_once_at_the_rate(channels, rate, monkeypatch):
    """A 1-s stream (an array codec's chunk): each step the search tries is a whole-stream pass
    whose quantization is kept, the size predicted from its counts, and the last one is coded:
    one coding pass, 1-3 of those, no other quantization but one per hop where the hop choice
    measures both (:func:`tqa.sv2._distortion_at`), and the stream lands within [0.997, 1] of the rate."""
    x = _music(SR, channels, seed=channels)
    n = _Passes(monkeypatch)
    params, frames = sv2.encode(x, rate=rate, sample_rate=SR, frame_overhead=8, stream_overhead=100)
    bits = (len(params) + sum(map(len, frames)) + 8 * len(frames) + 100) * 8 / x.size
    F, both = len(frames), -(-SR // 2048) + -(-SR // 1024)
    assert n.codes == 1 and 1 <= n.counts <= 3 and n.frames - n.counts * F in (0, both), (n.counts, n.frames, F)
    assert 0.997 * rate <= bits <= rate


def test_predicted_size_is_the_coded_size(monkeypatch):
    """_predicted_bits from a stream's counts is its coded size within 0.15% (the search lands
    on it before coding)."""
    x = _music(2 * SR, 1, seed=5)
    seen = []
    code = sv2._Stream.code

    def p(S, step, tab):
        frames = code(S, step, tab)
        k = S.counts(step)
        params = codec.pack_params(S.st, S.ch, S.n, step, tab)
        size = 8 * (len(params) + frames.nbytes + S.st.frame_overhead * S.F + S.st.stream_overhead)
        seen.append(sv2._predicted_bits(S, k, np.log2(step)) / size)
        return frames

    monkeypatch.setattr(sv2._Stream, "code", p)
    for rate in (1.5, 3.0, 6.0):
        sv2.encode(x, rate=rate, sample_rate=SR, frame_overhead=8)
    assert seen and all(abs(r - 1) < 0.0015 for r in seen), seen


def test_rate_model_solves_its_piecewise_linear_bits():
    """The model's step makes its own bits the target, and its slope is theirs there."""
    rng = np.random.default_rng(3)
    st = codec.Settings(rate=3.0, hop=1024)
    S = sv2._Stream(sv2._ArraySource(_music(SR // 2, 2) * rng.uniform(0.5, 2), st), st)
    A, _ = sv2._subset(S)
    m = sv2._RateModel(A)
    bits = lambda u: codec.BAND * float(np.sum(np.maximum(0.0, m.L - u)))  # noqa: E731
    for target in (1e3, 5e4, 3e5, 1e7):
        u, slope = m.solve(target)
        assert bits(u) == pytest.approx(target, rel=1e-9)
        assert (bits(u + 1e-4) - bits(u - 1e-4)) / 2e-4 == pytest.approx(slope, rel=1e-3)
    silent = sv2._Stream(sv2._ArraySource(np.zeros((5000, 2)), st), st)
    assert sv2._RateModel(sv2._subset(silent)[0]).solve(1e4) is None


def test_secant_meets_its_target_from_the_model_and_from_far():
    st = codec.Settings(rate=3.0, hop=2048)
    S = sv2._Stream(sv2._ArraySource(_music(SR, 2), st), st)
    A, _ = sv2._subset(S)
    target = 3.0 * A.X.size
    for cal in ((sv2.MODEL_C, 1.0), (12.0, 0.3), (-9.0, 4.0)):  # the default, and two bad calibrations
        g, slope, (c, r) = sv2._secant(lambda ls: sv2._sub_bits(A, st, ls), target, A, st, cal)
        assert sv2._sub_bits(A, st, g) == pytest.approx(target, rel=0.0011)
        assert slope < 0 and 0.25 <= r <= 4
    # the calibration it found makes the next search start within 1% of its target
    first = []
    sv2._secant(lambda ls: first.append(sv2._sub_bits(A, st, ls)) or first[-1], 0.95 * target, A, st, (c, r))
    assert abs(first[0] / (0.95 * target) - 1) < 0.01


@pytest.mark.parametrize("preecho", [True, False])
def test_subset_distortion_is_the_reconstruction_error(preecho):
    """_subset_distortion (from |Y|/step and the indices) is the squared error of codec.reconstruct."""
    st = codec.Settings(rate=3.0, hop=1024, preecho=preecho)
    x = _music(SR, 2, seed=7)
    x[: SR // 2] *= 1e-3  # a quiet stretch before the hit: the pre-echo guard refines steps there
    S = sv2._Stream(sv2._ArraySource(np.rint(x), st), st)
    A, _ = sv2._subset(S)
    assert A.short.any()
    refined = False
    for ls in (8.0, 12.0, 16.0, 20.0):
        step = 2.0**ls
        qz = codec.quantize(A, step, st)
        refined |= bool(qz.e.any())
        delta = codec.tables_of_counts(codec.counts(qz)).delta
        stepv = codec.step_map(step, qz.e, qz.Y.shape[2]) if qz.e.any() else step
        ref = float(np.sum((qz.Y - codec.reconstruct(qz.q, qz.cls, delta, stepv)) ** 2))
        assert sv2._subset_distortion(A, st, step) == pytest.approx(ref, rel=1e-9)
    assert refined == preecho  # the per-coefficient step map taken too


def test_seeded_analysis_is_the_analysis_of_the_passes():
    """A small stream's passes reuse the search's analysis of all its frames: the same values."""
    st = codec.Settings(rate=3.0, hop=1024)
    x = _music(SR, 2, seed=9)
    S = sv2._Stream(sv2._ArraySource(x, st), st)
    S.seed(S.analysis(np.arange(S.F)))
    T = sv2._Stream(sv2._ArraySource(x, st), st)
    for i, blk in enumerate(S.chunks):
        for (f1, a1), (f2, a2) in zip(S.pieces(blk, i), T.pieces(blk, i)):
            assert np.array_equal(f1, f2) and np.array_equal(a1.X, a2.X) and np.array_equal(a1.EB, a2.EB)


def test_compiled_tables_are_the_full_tables_thinned():
    """_compiled_tables (one sorted search) gives _decode_tables' freq, cumx and coarse lut,
    tables with absent and zero-frequency symbols included."""
    rng = np.random.default_rng(11)
    for rate in (0.8, 3.0, 8.0):
        params, _ = sv2.encode(_music(SR // 2, 2, seed=int(rate)), rate=rate, sample_rate=SR)
        p = codec.parse_params(params)
        f, _, _, cumx, lutc = codec._decode_tables(p)
        f2, cumx2, lutc2 = codec._compiled_tables(codec.parse_params(params))
        assert np.array_equal(f, f2) and np.array_equal(cumx, cumx2) and np.array_equal(lutc, lutc2)
    dcodes = rng.integers(0, 31, (2, codec.DS))
    ccodes = np.where(rng.random((codec.C, 16)) < 0.3, rans.ABSENT, rng.integers(0, 31, (codec.C, 16)))
    p = codec.Params(2, 1024, SR, 5000, 0, False, 1.0, codec.Tables(dcodes, ccodes, np.zeros((codec.C, 3), np.int64)))
    _, _, lut = p.tables.arrays()
    assert np.array_equal(codec._compiled_tables(p)[2], lut[:, ::16].astype(np.uint8))


def _hop_choice(x: np.ndarray, monkeypatch) -> tuple[int, int]:
    """(hop chosen for a 3.2-bit stream of x, distortion passes the choice measured)."""
    calls = []
    dist = sv2._distortion

    def d(*a, **k):
        calls.append(1)
        return dist(*a, **k)

    monkeypatch.setattr(sv2, "_distortion", d)
    st = codec.Settings(rate=3.2, sample_rate=SR)
    S, found = sv2._pick_hop(sv2._ArraySource(x, st), st)
    assert found.A.X.shape[0] == found.idx.size
    return S.st.hop, len(calls)


def test_hop_choice_without_attacks_takes_2048_unsearched(monkeypatch):
    """No attack in the stream: hop 2048 with no search on hop 1024 (what the search chose on
    every attack-free 1-s chunk of music and of the recording); with attacks both are measured."""
    x = _music(SR, 2, seed=3)
    calm = x.copy()
    calm[int(0.6 * SR) :] = x[: SR - int(0.6 * SR)]  # the tones on, no hit
    assert not sv2._Stream(sv2._ArraySource(calm, codec.Settings(rate=3.2)), codec.Settings(rate=3.2, hop=2048)).short.any()
    assert _hop_choice(calm, monkeypatch) == (2048, 0)
    assert _hop_choice(x, monkeypatch)[1] == 2


def test_params_size_is_the_packed_params_length():
    """codec.params_size (what the rate search asks at every step) is len(pack_params), with
    tables of few and many classes and with the perceptual record."""
    x = _music(SR, 2, seed=4)
    for kw in (dict(rate=1.0), dict(rate=6.0), dict(rate=3.0, tune="perceptual")):
        st = codec.Settings(sample_rate=SR, hop=1024, **kw)
        if st.tune == "perceptual":
            st = codec.Settings(sample_rate=SR, hop=1024, weights=tuple(range(1024 // codec.BAND)), **kw)
        S = sv2._Stream(sv2._ArraySource(x, st), st)
        for step in (2.0**6, 2.0**10, 2.0**14):
            tab = codec.tables_of_counts(S.counts(step))
            assert codec.params_size(st, tab) == len(codec.pack_params(st, 2, SR, step, tab))


def test_hop_choice_at_one_step_agrees_with_the_full_search(monkeypatch):
    """_distortion_at (one quantization per hop, moved to the budget by the model's slope)
    ranks the hops as the full search (secant to the budget, distortion there) on streams where
    they differ by more than 10%; and its estimate is the distortion at the budget within 10%."""
    rng = np.random.default_rng(8)
    checked = 0
    for seed in range(6):
        x = _music(SR, 2, seed=seed)
        x[rng.integers(SR // 4, SR // 2) :: 9000] *= 30  # clicks: attacks for the hop choice
        st = codec.Settings(rate=3.2, sample_rate=SR)
        src = sv2._ArraySource(x, st)
        got = {}
        for hop in (1024, 2048):
            S = sv2._Stream(src, codec.Settings(rate=3.2, sample_rate=SR, hop=hop))
            A = S.analysis(np.arange(S.F))
            budget = 3.2 * (-(-SR // 2048)) * 2048 * 2 - 8 * S.F * sv2._frame_fixed_bytes(S.st)
            d_est, _ = sv2._distortion_at(A, S.st, budget, (sv2.MODEL_C, 1.0))
            g, _, _ = sv2._secant(lambda ls: sv2._sub_bits(A, S.st, ls), budget, A, S.st)
            d_full = sv2._subset_distortion(A, S.st, 2.0**g)
            assert d_est == pytest.approx(d_full, rel=0.10), (seed, hop)
            got[hop] = (d_est, d_full)
        if abs(got[1024][1] / got[2048][1] - 1) > 0.10:
            checked += 1
            assert (got[1024][0] < got[2048][0]) == (got[1024][1] < got[2048][1]), (seed, got)
    assert checked >= 2
