"""``tqa batch``: transcode a directory tree on dask.distributed.

Every file is one task (long files are split at frame boundaries into several, and
joined in order), run on a ``LocalCluster`` of ``workers`` processes or on an
existing cluster (``scheduler="tcp://host:port"``).  Outputs mirror the source tree
and are written atomically, so a rerun after a crash or Ctrl-C skips what is already
complete; a file that fails is reported and the others finish.

Dask is an optional dependency: ``pip install 'tqa[dist]'``.
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Callable

import numpy as np
import soundfile as sf

from . import api, audio, metrics, profiles, stream
from .format import FormatError

__all__ = ["run_batch", "plan", "AUDIO_EXTENSIONS", "SEGMENT_SAMPLES"]

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64", ".mp3"}
# Files longer than this (samples per channel) are split into segments of this size
# (rounded to whole frames) that run as separate tasks: ~95 s at 44.1 kHz.
SEGMENT_SAMPLES = 1 << 22


def _dask():
    try:
        import distributed
    except ImportError:
        raise ImportError("tqa batch needs Dask: pip install 'tqa[dist]'") from None
    return distributed


# -- planning (on the client) ---------------------------------------------------------
def _complete(dst: pathlib.Path, decode: bool) -> bool:
    """An output that exists and reads back whole (outputs are only ever renamed in whole)."""
    if not dst.is_file():
        return False
    try:
        if decode:
            sf.info(str(dst))
        else:
            with open(dst, "rb") as f:
                api.Decoder(f, name=str(dst))
        return True
    except (FormatError, RuntimeError, OSError):
        return False


def plan(src: str | os.PathLike, dst: str | os.PathLike, decode: bool = False, out_ext: str = ".wav"):
    """(todo, skipped): (source, destination) pairs under ``src``, mirrored into ``dst``."""
    root, out = pathlib.Path(src), pathlib.Path(dst)
    if not root.is_dir():
        raise audio.AudioError(f"{root}: not a folder")
    todo, skipped = [], []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        if decode != (p.suffix.lower() == ".tqa") or (not decode and p.suffix.lower() not in AUDIO_EXTENSIONS):
            continue
        target = (out / p.relative_to(root)).with_suffix(out_ext if decode else ".tqa")
        for stale in target.parent.glob(f".{target.name}.*.part") if target.parent.is_dir() else ():
            stale.unlink()  # left by a killed run; never a complete output
        (skipped if _complete(target, decode) else todo).append((p, target))
    return todo, skipped


# -- tasks (on the workers) -----------------------------------------------------------
def _source_pcm_bytes(path: pathlib.Path) -> tuple[int, float, int]:
    info = sf.info(str(path))
    width = audio.FORMATS[audio.source_format(info.subtype)[0]][1]
    return info.frames * info.channels * width, info.duration, info.frames


def _verify(src: pathlib.Path, tqa_path: pathlib.Path) -> float:
    """SQNR of a .tqa file against its source, streamed."""
    with sf.SoundFile(str(src)) as f, open(tqa_path, "rb") as t:
        dec = api.Decoder(t, name=str(tqa_path))
        meter = metrics.SNRMeter(f.channels)
        for chunk in dec.chunks(dtype="float64"):
            meter.update(f.read(len(chunk), dtype="float64", always_2d=True), chunk)
    return meter.sqnr_db


def _result(src, dst, **kw) -> dict:
    return {"file": str(src), "output": str(dst), "error": None, **kw}


def encode_task(src: str, dst: str, settings: dict, verify: bool) -> dict:
    """Encode one file; never raises (a failure is a result with ``error``)."""
    t0 = time.perf_counter()
    try:
        pathlib.Path(dst).parent.mkdir(parents=True, exist_ok=True)
        r = audio.encode_file(src, dst, **settings)
        pcm, seconds, _ = _source_pcm_bytes(pathlib.Path(src))
        snr = _verify(pathlib.Path(src), pathlib.Path(dst)) if verify else None
        return _result(src, dst, seconds=seconds, in_bytes=r.in_bytes, out_bytes=r.out_bytes, pcm_bytes=pcm,
                       sqnr_db=snr, wall=time.perf_counter() - t0)  # fmt: skip
    except Exception as exc:  # isolate: one bad file must not stop the batch
        return _result(src, dst, error=f"{type(exc).__name__}: {exc}")


def decode_task(src: str, dst: str, subtype: str | None, engine: str | None) -> dict:
    t0 = time.perf_counter()
    try:
        pathlib.Path(dst).parent.mkdir(parents=True, exist_ok=True)
        r = audio.decode_file(src, dst, subtype=subtype, engine=engine)
        with open(src, "rb") as f:
            inf = api.info(f, src)
        return _result(src, dst, seconds=inf["duration"], in_bytes=r.in_bytes, out_bytes=r.out_bytes,
                       pcm_bytes=inf["source_bytes"], sqnr_db=None, wall=time.perf_counter() - t0)  # fmt: skip
    except Exception as exc:
        return _result(src, dst, error=f"{type(exc).__name__}: {exc}")


def segment_task(src: str, header: bytes, start: int, count: int, first_frame: int, engine: str | None) -> bytes:
    """Frames from ``first_frame`` of a long file: samples [start, start+count), as bytes."""
    with sf.SoundFile(src) as f:
        f.seek(start)
        x = f.read(count, dtype=audio.source_format(f.subtype)[1], always_2d=True)
    if len(x) != count:
        raise OSError(f"{src}: read {len(x)} of {count} samples at {start}")
    return stream.encode_segment(header, x, first_frame, engine)


# -- the driver ---------------------------------------------------------------------
def _client(workers: int, scheduler: str | None):
    distributed = _dask()
    if scheduler:
        return distributed.Client(scheduler), None
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    return distributed.Client(cluster), cluster


def _encode_long(client, src: pathlib.Path, dst: pathlib.Path, settings: dict, verify: bool, segment: int):
    """Submit a long file as segments of whole frames; returns their futures and the header."""
    info = sf.info(str(src))
    opts = {k: v for k, v in settings.items() if k != "engine"}
    header = stream.header_bytes(info.samplerate, info.channels, info.frames,
                                 source_format=audio.source_format(info.subtype)[0], **opts)  # fmt: skip
    prof = profiles.get(opts.get("profile", profiles.DEFAULT))
    s = prof.settings(**{k: v for k, v in opts.items() if k != "profile"})
    fs = prof.samples_of_frames(s, 1)
    per = max(1, segment // fs)
    n_frames = prof.n_frames(s, info.frames)
    futures = [
        client.submit(segment_task, str(src), header, first * fs, min(per * fs, info.frames - first * fs), first,
                      settings.get("engine"), pure=False)  # fmt: skip
        for first in range(0, n_frames, per)
    ]
    return futures, header


def _join(src, dst, header: bytes, futures, verify: bool, t0: float) -> dict:
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with audio.atomic_output(dst, (src,)) as out:
            out.write(header)
            for fut in futures:  # in order; each segment's bytes are released once written
                out.write(fut.result())
        pcm, seconds, _ = _source_pcm_bytes(src)
        snr = _verify(src, dst) if verify else None
        return _result(src, dst, seconds=seconds, in_bytes=src.stat().st_size, out_bytes=dst.stat().st_size,
                       pcm_bytes=pcm, sqnr_db=snr, wall=time.perf_counter() - t0, segments=len(futures))  # fmt: skip
    except Exception as exc:
        return _result(src, dst, error=f"{type(exc).__name__}: {exc}")


def run_batch(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    decode: bool = False,
    out_ext: str = ".wav",
    subtype: str | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    verify: bool = False,
    segment_samples: int | None = None,
    progress: Callable[[dict], None] | None = None,
    **settings,
) -> dict:
    """Transcode the tree ``src`` into ``dst``; returns the summary (see ``tqa batch``)."""
    _dask()
    t0 = time.perf_counter()
    todo, skipped = plan(src, dst, decode, out_ext)
    segment = SEGMENT_SAMPLES if segment_samples is None else segment_samples
    results: list[dict] = []
    client, cluster = _client(workers, scheduler) if todo else (None, None)
    t_ready = time.perf_counter()
    peaks: dict = {}
    try:
        futures, longs = [], []
        for s, d in todo:
            if decode:
                futures.append(client.submit(decode_task, str(s), str(d), subtype, settings.get("engine"), pure=False))
                continue
            try:
                frames = sf.info(str(s)).frames
            except Exception as exc:
                results.append(_result(s, d, error=f"{type(exc).__name__}: {exc}"))
                continue
            if frames > segment and profiles.get(settings.get("profile", profiles.DEFAULT)).segmentable:
                longs.append((s, d, *_encode_long(client, s, d, settings, verify, segment)))
            else:
                futures.append(client.submit(encode_task, str(s), str(d), settings, verify, pure=False))
        distributed = _dask()
        for fut in distributed.as_completed(futures):
            r = fut.result()
            results.append(r)
            if progress:
                progress(r)
        for s, d, segs, header in longs:
            r = _join(s, d, header, segs, verify, t0)
            results.append(r)
            if progress:
                progress(r)
        n_workers = len(client.scheduler_info()["workers"]) if client else 0
        if client is not None:
            peaks = client.run(_peak_rss_mib)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    summary = summarize(results, skipped, time.perf_counter() - t0, n_workers)
    summary["cluster_start_seconds"] = t_ready - t0
    summary["worker_peak_rss_mib"] = max(peaks.values()) if peaks else None
    return summary


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def summarize(results: list[dict], skipped: list, wall: float, workers: int) -> dict:
    ok = [r for r in results if r["error"] is None]
    snr = [r["sqnr_db"] for r in ok if r.get("sqnr_db") is not None]
    out_bytes = sum(r["out_bytes"] for r in ok)
    seconds = sum(r["seconds"] for r in ok)
    return {
        "files": len(ok),
        "skipped_complete": len(skipped),
        "failed": len(results) - len(ok),
        "audio_hours": seconds / 3600,
        "input_bytes": sum(r["in_bytes"] for r in ok),
        "output_bytes": out_bytes,
        "ratio_vs_pcm": (sum(r["pcm_bytes"] for r in ok) / out_bytes) if out_bytes else None,
        "sqnr_db_mean": float(np.mean(snr)) if snr else None,
        "sqnr_db_worst": float(np.min(snr)) if snr else None,
        "wall_seconds": wall,
        "x_realtime": seconds / wall if wall > 0 else None,
        "workers": workers,
        "failures": [{"file": r["file"], "error": r["error"]} for r in results if r["error"] is not None],
    }
