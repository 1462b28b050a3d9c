"""Finding and running the ffmpeg binary safely: argv lists, no shell, no stdin, whitelists, limits, timeouts.

ffmpeg on PATH is preferred (a distribution build gets security updates); otherwise the static binary
shipped by `imageio-ffmpeg` is used, so a plain `pip install` is enough. ffprobe is never required.
"""
from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

# Only real video containers may be opened, and only from local files: a playlist (hls), a concat
# list, an image sequence or a URL inside an upload would make ffmpeg read other files or hosts.
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm"
PROTOCOL_WHITELIST = "file,pipe"
INPUT_PROTOCOLS = "file"

# The demuxer names ffmpeg reports for the whitelisted containers, and the -f to force after probing.
DEMUXERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mov",
    "matroska,webm": "matroska",
}


class FFmpegError(RuntimeError):
    """ffmpeg failed; `stderr_tail` keeps its last lines for the job log."""

    def __init__(self, message: str, stderr_tail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.returncode = returncode


class FFmpegTimeout(FFmpegError):
    """ffmpeg ran longer than its budget and was killed."""


class FFmpegCancelled(FFmpegError):
    """The caller asked to stop (job cancelled or taken over)."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: $LMS_FFMPEG, then ffmpeg on PATH, then the one bundled with imageio-ffmpeg."""
    env = os.environ.get("LMS_FFMPEG")
    if env:
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def hardened_input(path: str, forced_format: str | None = None) -> list[str]:
    """Input options that confine the demuxer to whitelisted containers read from one local file."""
    args = ["-protocol_whitelist", INPUT_PROTOCOLS, "-format_whitelist", FORMAT_WHITELIST]
    if forced_format:
        args += ["-f", forced_format]
    # "file:" stops a crafted name from being read as another protocol ("concat:…", "http:…").
    return args + ["-i", "file:" + os.path.abspath(path)]


def base_args() -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y"]


@dataclass
class Limits:
    timeout: float = 600.0  # seconds of wall-clock time
    memory_bytes: int | None = None  # RLIMIT_AS of the ffmpeg process
    file_bytes: int | None = None  # RLIMIT_FSIZE: no single output file larger than this


def _load_prctl():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):  # not Linux: no parent-death signal, the reaper still copes
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: if the worker is killed (even with -9), ffmpeg is killed too,
    so a dead attempt cannot keep writing."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _apply_limits(pid: int, limits: Limits) -> None:
    # prlimit() on the child after fork: safe in a threaded worker, unlike preexec_fn.
    with contextlib.suppress(ProcessLookupError, OSError):
        if limits.memory_bytes:
            resource.prlimit(pid, resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        if limits.file_bytes:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def run(
    argv: list[str],
    limits: Limits | None = None,
    on_progress: Callable[[dict[str, str]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
) -> str:
    """Run ffmpeg (argv list, never a shell) and return its stderr.

    With `on_progress`, argv must contain `-progress pipe:1`: each finished block of key=value lines
    is handed over as a dict. `should_stop` is asked every `poll_seconds`; True kills ffmpeg.
    """
    limits = limits or Limits()
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603  (an argv list built by us; never a shell)
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if on_progress else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a kill takes every thread and child with it
        close_fds=True,
        preexec_fn=_die_with_parent if _PRCTL is not None else None,
    )
    _apply_limits(proc.pid, limits)
    stderr_chunks: list[bytes] = []

    import threading

    def drain_stderr():
        for chunk in iter(lambda: proc.stderr.read(8192), b""):
            stderr_chunks.append(chunk)
            if len(stderr_chunks) > 256:  # keep the tail only; ffmpeg can be chatty on broken input
                del stderr_chunks[:128]

    t_err = threading.Thread(target=drain_stderr, daemon=True)
    t_err.start()
    block: dict[str, str] = {}
    stop_reason: str | None = None

    def progress_reader():
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if "=" not in line:
                continue
            key, _, value = line.partition("=")
            block[key] = value
            if key == "progress":
                with contextlib.suppress(Exception):
                    on_progress(dict(block))
                block.clear()

    t_out = None
    if on_progress:
        t_out = threading.Thread(target=progress_reader, daemon=True)
        t_out.start()
    try:
        while True:
            try:
                proc.wait(timeout=poll_seconds)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() - started > limits.timeout:
                stop_reason = "timeout"
                _kill(proc)
                break
            if should_stop is not None and should_stop():
                stop_reason = "cancelled"
                _kill(proc)
                break
    except BaseException:
        _kill(proc)
        raise
    t_err.join(timeout=5)
    if t_out is not None:
        t_out.join(timeout=5)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    stderr = b"".join(stderr_chunks).decode("utf-8", "replace")
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    if stop_reason == "timeout":
        raise FFmpegTimeout(f"ffmpeg ran longer than {limits.timeout:.0f} s and was stopped", tail)
    if stop_reason == "cancelled":
        raise FFmpegCancelled("ffmpeg was stopped on request", tail)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg exited with status {proc.returncode}", tail, proc.returncode)
    return stderr


def join_cmd(argv: Iterable[str]) -> str:
    """For logs only: a readable form of an argv list (never executed through a shell)."""
    import shlex

    return " ".join(shlex.quote(a) for a in argv)
