"""Media storage behind one small interface; the default keeps files in a local directory.

Keys are relative POSIX paths chosen by the server (never a user's file name):

    uploads/<upload-id>.part          a chunked upload being received
    originals/<video-id>/<n>.<ext>    accepted originals (kept until a transcode of them succeeds)
    hls/<video-id>/<n>/…              published renditions: master.m3u8, <rung>/index.m3u8, segments, images
    tmp/<job-id>-<attempt>-<rand>/    work in progress of one job attempt (never served)

A published rendition appears in one atomic rename of a finished, verified directory, so a reader
never sees half of one. A shared mount (NFS, CephFS) works as is; an object store implements the
same methods.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")


class StorageError(ValueError):
    """A key that is not a clean relative path under the root."""


class LocalStorage:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    # --- paths ----------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The local path of `key`; refuses anything that would leave the root."""
        if not key or not _KEY_RE.match(key) or ".." in key.split("/") or "//" in key:
            raise StorageError(f"bad storage key {key!r}")
        p = (self.root / key).resolve()
        if p != self.root and self.root not in p.parents:
            raise StorageError(f"storage key {key!r} leaves the storage root")
        return p

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def ensure_parent(self, key: str) -> Path:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # --- writing ----------------------------------------------------------------------------------
    def append(self, key: str, stream, offset: int, limit: int, bufsize: int = 1 << 20) -> int:
        """Write `stream` at `offset` of the file `key`, at most `limit` bytes; returns bytes written.

        More than `limit` bytes raises OverflowError after truncating the file back to `offset`,
        so a refused chunk leaves nothing behind.
        """
        p = self.ensure_parent(key)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o640)
        written = 0
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            while True:
                buf = stream.read(min(bufsize, limit + 1 - written))
                if not buf:
                    break
                written += len(buf)
                if written > limit:
                    os.ftruncate(fd, offset)
                    raise OverflowError(f"more than {limit} bytes")
                os.write(fd, buf)
            os.ftruncate(fd, offset + written)
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, offset)
            raise
        finally:
            os.close(fd)
        return written

    def move(self, src_key: str, dst_key: str) -> None:
        dst = self.ensure_parent(dst_key)
        os.replace(self.path(src_key), dst)

    def delete(self, key: str) -> None:
        p = self.path(key)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()

    # --- work directories and atomic publication ---------------------------------------------------
    def make_work_dir(self, label: str) -> str:
        key = f"tmp/{label}-{secrets.token_hex(4)}"
        self.path(key).mkdir(parents=True, exist_ok=False)
        return key

    def publish_dir(self, work_key: str, final_key: str) -> None:
        """Move a finished work directory to its public key in one rename (same filesystem)."""
        final = self.path(final_key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise StorageError(f"{final_key} is already published")
        os.rename(self.path(work_key), final)

    def list_dir(self, key: str) -> list[str]:
        p = self.path(key)
        if not p.is_dir():
            return []
        return sorted(c.name for c in p.iterdir())

    def sweep_tmp(self, keep: set[str], older_than: float, now: float | None = None) -> list[str]:
        """Remove work directories of dead attempts (not in `keep`, untouched for `older_than` s)."""
        import time

        now = now or time.time()
        removed = []
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return removed
        for child in tmp.iterdir():
            key = f"tmp/{child.name}"
            if key in keep:
                continue
            try:
                age = now - child.stat().st_mtime
            except FileNotFoundError:
                continue
            if age >= older_than:
                shutil.rmtree(child, ignore_errors=True)
                removed.append(key)
        return removed
