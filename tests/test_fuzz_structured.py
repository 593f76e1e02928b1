"""Structure-aware fuzzing with an independent model of the format (tests/fmtspec.py).

The model parses and builds .tqa streams from the format description alone; the
campaign mutates fields under valid CRCs (headers, side info, scales, VBR index,
frames) and runs tqa.info / verify / decode (every engine) / decode(on_error=
"silence") / range decodes on each case, in forked workers under an address-space
cap with per-call time limits.  Only tqa.FormatError may escape; lengths are what
was asked; every engine gives the same bytes; verify() == [] means decodable.
The long campaign is tools/fuzz_campaign.py.
"""

import io

import numpy as np
import pytest

import fmtspec as F
import tqa

CASES = {0: 500, 1: 500, 2: 100}  # ~5 s of CPU each here; the long campaign: tools/fuzz_campaign.py


@pytest.fixture(scope="module")
def seeds():
    return F.seed_streams()


def test_model_parses_and_rebuilds_the_library_streams(seeds):
    for name, data in seeds.items():
        s = F.parse(data)
        assert F.build(s) == data, name
        assert F.spec_problems(data) == [], name
        inf = tqa.info(data)
        g = s.geometry()
        assert (inf["tqa_frames"], inf["frames"], inf["channels"], inf["bytes"]) == (g.n_frames, g.n, g.channels, len(data))
        assert len(s.frames) == g.n_frames


def test_streams_built_from_fields_decode_on_every_engine():
    """The builder alone (no encoder) makes conforming streams the library decodes identically."""
    rng = np.random.default_rng(5)
    for i in range(40):
        s = F.synth_time(rng) if i % 2 else F.synth_spectral(rng)
        data = F.build(s)
        assert F.spec_problems(data) == []
        g = s.geometry()
        outs = [tqa.decode(data, engine=e, dtype="int32")[0] for e in tqa.engines()]
        assert all(o.shape[0] == g.n for o in outs)
        assert all(o.tobytes() == outs[0].tobytes() for o in outs[1:]), f"engines disagree on synthetic stream {i}"


def test_header_extension_is_transparent(seeds):
    """The spec lets a header grow (44 < H <= 4096); the samples must not change."""
    rng = np.random.default_rng(1)
    for name, data in seeds.items():
        mutate = F.mutate_s2_extension if data[5] == 2 else F.mutate_header_extension  # profile 2 keeps its parameters
        for _ in range(3 if data[5] == 2 else 1):
            ext, desc = mutate(F.parse(data), rng)
            assert "equivalent" in desc, desc
            for e in tqa.engines():
                assert tqa.decode(ext, engine=e)[0].tobytes() == tqa.decode(data, engine=e)[0].tobytes(), name
            assert tqa.verify(ext) == []


def test_decoder_accepts_file_objects_like_bytes(seeds):
    for data in seeds.values():
        a = tqa.decode(data)[0]
        b = tqa.decode(io.BytesIO(data))[0]
        assert a.tobytes() == b.tobytes()


def _report(stats, limit=12):
    cats = {k: stats[k] for k in F.CATEGORIES if stats[k]}
    lines = [f"{stats['cases']} cases in {stats['seconds']:.1f} s, complete={stats['complete']}, failing categories: {cats}"]
    lines += [F.describe(f) for f in stats["failures"][:limit]]
    return "\n".join(lines)


@pytest.mark.parametrize("profile", [0, 1, 2], ids=["time", "spectral", "spectral2"])
def test_structured_campaign(profile):
    # CPU time, not wall time, decides a hang (a loaded CI machine makes a 30 ms call wait seconds
    # for a core); the deadline only keeps a broken build from running for ever
    stats = F.campaign(profile, CASES[profile], seed=2026, workers=1, time_limit=2.0, interrupt=3.0,
                       memory_every=8, watchdog=60.0, deadline=600.0, max_failures=200, clock="cpu")  # fmt: skip
    assert stats["complete"] and stats["cases"] == CASES[profile], _report(stats)
    # both outcomes occur: the mutations reach the decoder, and damage is detected
    assert stats["decoded"] > CASES[profile] // 10 and stats["rejected"] > CASES[profile] // 10, _report(stats)
    assert not stats["failures"], _report(stats)
