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
import shlex
import shutil
import time
from typing import Callable

import numpy as np
import soundfile as sf

from . import api, audio, profiles, stream
from .format import FormatError

__all__ = ["run_batch", "plan", "AUDIO_EXTENSIONS", "SEGMENT_SAMPLES"]

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64", ".mp3"}
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
                audio.open_decoder(f, str(dst))
        return True
    except (FormatError, RuntimeError, OSError, ValueError):
        return False


def plan(src: str | os.PathLike, dst: str | os.PathLike, decode: bool = False, out_ext: str = ".wav",
         skipped_files: list | None = None):  # fmt: skip
    """(todo, complete): (source, destination) pairs under ``src``, mirrored into ``dst``.

    Outputs never collide: when two sources in a folder share a stem (``m.mp3``,
    ``m.ogg``), each keeps its whole name (``m.mp3.tqa``, ``m.ogg.tqa``).  Files that
    are not taken are appended to ``skipped_files`` as {"file", "reason"}.
    """
    root, out = pathlib.Path(src), pathlib.Path(dst)
    if not root.is_dir():
        raise audio.AudioError(f"{root}: not a folder")
    skipped_files = [] if skipped_files is None else skipped_files
    wanted = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        ext = p.suffix.lower()
        if decode:
            if ext != ".tqa":
                skipped_files.append({"file": str(p), "reason": "not a .tqa file (--decode)"})
                continue
        elif ext == ".tqa":
            continue  # already encoded: not a source
        elif ext not in AUDIO_EXTENSIONS:
            skipped_files.append({"file": str(p), "reason": f"{ext or 'no extension'}: not an audio format tqa reads "
                                  f"({', '.join(sorted(AUDIO_EXTENSIONS))})"})  # fmt: skip
            continue
        wanted.append(p)
    stems: dict = {}
    for p in wanted:
        stems.setdefault((p.parent, p.stem.lower() if not decode else p.stem), []).append(p)
    todo, complete = [], []
    cleaned = set()
    for p in wanted:
        rel = p.relative_to(root)
        clash = len(stems[(p.parent, p.stem.lower() if not decode else p.stem)]) > 1
        if decode:
            base = rel.with_suffix("")
            target = out / (str(base) + out_ext) if not clash else out / (str(rel) + out_ext)
        else:
            target = out / (str(rel) + ".tqa") if clash else out / rel.with_suffix(".tqa")
        if target.parent not in cleaned and target.parent.is_dir():
            audio.clean_stale_parts(target.parent)  # left by a killed run; never a complete output
            cleaned.add(target.parent)
        (complete if _complete(target, decode) else todo).append((p, target))
    return todo, complete


# -- tasks (on the workers) -----------------------------------------------------------
def _source_pcm_bytes(path: pathlib.Path) -> tuple[int, float, int]:
    info = sf.info(str(path))
    width = audio.FORMATS[audio.source_format(info.subtype)[0]][1]
    return info.frames * info.channels * width, info.duration, info.frames


def _verify(src: pathlib.Path, tqa_path: pathlib.Path) -> float:
    """SQNR of a .tqa file against its source, streamed."""
    return audio.measure_tqa(src, tqa_path).sqnr_db


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


def segment_task(src: str, header: bytes, start: int, count: int, first_frame: int, engine: str | None,
                 out_path: str | None = None):  # fmt: skip
    """Frames from ``first_frame`` of a long file: samples [start, start+count), as bytes.

    With ``out_path`` the segment is written there atomically (kept for a resumed run)
    and its size is returned instead.
    """
    with sf.SoundFile(src) as f:
        f.seek(start)
        x = f.read(count, dtype=audio.source_format(f.subtype)[1], always_2d=True)
    if len(x) != count:
        raise OSError(f"{src}: read {len(x)} of {count} samples at {start}")
    data = stream.encode_segment(header, x, first_frame, engine)
    if out_path is None:
        return data
    with audio.atomic_output(out_path) as out:
        out.write(data)
    return len(data)


# -- the driver ---------------------------------------------------------------------
def _client(workers: int, scheduler: str | None, dashboard: str | None = None):
    """A client on ``scheduler``, or on a LocalCluster without a dashboard unless ``dashboard`` names an address."""
    import logging

    distributed = _dask()
    if scheduler:
        return distributed.Client(scheduler), None
    # Dask's scheduler always runs an HTTP server (health checks), on :8787 when no address
    # is given: without --dashboard it gets a free loopback port and no dashboard pages.
    kw = {"dashboard_address": dashboard} if dashboard else {"dashboard_address": "127.0.0.1:0",
                                                              "scheduler_kwargs": {"dashboard": False}}  # fmt: skip
    # Worker processes share the terminal's process group, so a Ctrl-C would reach each of
    # them and every one would print a traceback.  They are spawned through a two-line
    # shell wrapper that ignores SIGINT before it execs Python (an ignored SIGINT stays
    # ignored in Python and in what it spawns); this process keeps its own handler, so
    # Ctrl-C at any moment stops the batch here, and the cluster is closed in order.
    import multiprocessing.spawn as mp_spawn
    import tempfile

    exe = mp_spawn.get_executable()
    with tempfile.TemporaryDirectory(prefix="tqa-batch-") as tmp:
        if os.name == "posix" and os.path.exists("/bin/sh"):
            wrapper = os.path.join(tmp, "python-nointr")
            with open(wrapper, "w") as f:
                f.write(f"#!/bin/sh\ntrap '' INT\nexec {shlex.quote(os.fsdecode(exe))} \"$@\"\n")
            os.chmod(wrapper, 0o700)
            mp_spawn.set_executable(wrapper)
        try:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", silence_logs=logging.ERROR, **kw
            )
        except KeyboardInterrupt:
            # interrupted while starting: Dask's exit hook would try to close the half-built
            # cluster and print a traceback; its daemonic processes end with this one anyway
            import atexit

            from distributed.deploy import spec

            atexit.unregister(spec.close_clusters)
            _quiet_logs()
            raise
        finally:
            mp_spawn.set_executable(exe)
    return distributed.Client(cluster), cluster


def _quiet_logs() -> None:
    """After a Ctrl-C: no log lines from Dask or asyncio about the tasks it cut short."""
    import logging

    for name in ("asyncio", "distributed", "tornado"):
        logging.getLogger(name).disabled = True


def scratch_folder(dst: pathlib.Path) -> pathlib.Path:
    """Where a long file's finished segments wait for the join (kept by an interrupted run)."""
    return dst.parent / f".{dst.name}.segments"


def _encode_long(client, src: pathlib.Path, dst: pathlib.Path, settings: dict, verify: bool, segment: int):
    """Submit a long file's missing segments of whole frames; returns (segments, header, reused).

    Finished segments are files in :func:`scratch_folder` (each written atomically: there
    whole or not at all); a rerun with the same header (same source length and settings)
    keeps them and codes only the rest.
    """
    info = sf.info(str(src))
    opts = {k: v for k, v in settings.items() if k != "engine"}
    header = stream.header_bytes(info.samplerate, info.channels, info.frames,
                                 source_format=audio.source_format(info.subtype)[0], **opts)  # fmt: skip
    prof = profiles.get(opts["profile"])  # run_batch resolved it
    s = prof.settings(**{k: v for k, v in opts.items() if k != "profile"})
    fs = prof.samples_of_frames(s, 1)
    per = max(1, segment // fs)
    n_frames = prof.n_frames(s, info.frames)
    scratch = scratch_folder(dst)
    stamp = scratch / "header.bin"
    if scratch.is_dir() and (not stamp.is_file() or stamp.read_bytes() != header):
        shutil.rmtree(scratch, ignore_errors=True)  # another source or other settings: start over
    scratch.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():
        with audio.atomic_output(stamp) as f:
            f.write(header)
    audio.clean_stale_parts(scratch)
    segs, reused = [], 0
    for first in range(0, n_frames, per):
        path = scratch / f"{first:012d}.seg"
        if path.is_file():
            segs.append((path, None))
            reused += 1
            continue
        fut = client.submit(segment_task, str(src), header, first * fs, min(per * fs, info.frames - first * fs), first,
                            settings.get("engine"), str(path), pure=False)  # fmt: skip
        segs.append((path, fut))
    return segs, header, reused


def _join(src, dst, header: bytes, segs, verify: bool, t0: float) -> dict:
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        for _, fut in segs:  # every segment is written before the output is started
            if fut is not None:
                fut.result()
        with audio.atomic_output(dst, (src,)) as out:
            out.write(header)
            for path, _ in segs:  # in order
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        shutil.rmtree(scratch_folder(dst), ignore_errors=True)
        pcm, seconds, _ = _source_pcm_bytes(src)
        snr = _verify(src, dst) if verify else None
        return _result(src, dst, seconds=seconds, in_bytes=src.stat().st_size, out_bytes=dst.stat().st_size,
                       pcm_bytes=pcm, sqnr_db=snr, wall=time.perf_counter() - t0, segments=len(segs))  # fmt: skip
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
    planned: Callable[[int], None] | None = None,
    dashboard: str | None = None,
    **settings,
) -> dict:
    """Transcode the tree ``src`` into ``dst``; returns the summary (see ``tqa batch``).

    ``planned(n)`` is told how many files will run, ``progress(result)`` after each;
    ``dashboard``: an address for the Dask dashboard (none by default).
    """
    _dask()
    # the profile the settings pick (tqa.profiles.resolve), named for the workers and the headers
    given = {k: v for k, v in settings.items() if k not in ("profile", "engine")}
    settings["profile"] = profiles.resolve(settings.get("profile"), given, profiles.DEFAULT)
    t0 = time.perf_counter()
    skipped_files: list = []
    todo, complete = plan(src, dst, decode, out_ext, skipped_files)
    if planned:
        planned(len(todo))
    segment = SEGMENT_SAMPLES if segment_samples is None else segment_samples
    results: list[dict] = []
    client, cluster = _client(workers, scheduler, dashboard) if todo else (None, None)
    t_ready = time.perf_counter()
    peaks: dict = {}
    n_workers = 0
    reused = 0
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
            if frames > segment and profiles.get(settings["profile"]).segmentable:
                segs, header, k = _encode_long(client, s, d, settings, verify, segment)
                reused += k
                longs.append((s, d, segs, header))
            else:
                futures.append(client.submit(encode_task, str(s), str(d), settings, verify, pure=False))
        if futures:
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
        if client is not None:
            n_workers = len(client.scheduler_info()["workers"])
            peaks = client.run(_peak_rss_mib)
    except KeyboardInterrupt:
        _quiet_logs()
        raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    summary = summarize(results, complete, time.perf_counter() - t0, n_workers)
    summary["cluster_start_seconds"] = t_ready - t0
    summary["worker_peak_rss_mib"] = max(peaks.values()) if peaks else None
    summary["skipped"] = skipped_files
    summary["segments_reused"] = reused
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
