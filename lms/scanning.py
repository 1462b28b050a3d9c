"""Malware scanning of uploaded files (UP-09): the scanner interface, the built-in scanners, choosing one.

A scanner answers one question about a file: clean, infected (with the signature's name) or error (it
could not tell). `UPLOAD_SCANNER` names the scanner in use:

    none     (default) nothing is scanned; every result is "not_scanned" and recorded as such
    clamd    a clamd daemon, spoken to with its INSTREAM protocol at CLAMD_ADDRESS
             (unix:/run/clamav/clamd.ctl or tcp://127.0.0.1:3310); no library needed
    command  UPLOAD_SCAN_COMMAND, an argv list run without a shell, "{path}" replaced by the file:
             exit 0 clean, 1 infected, anything else an error (clamdscan's and clamscan's convention)

Plugins add scanners with the `lms_gather_scanners` hook (a list of `Scanner` subclasses, each with a
unique `name`). What happens to a file that is not clean is `lms.quarantine`'s business.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)

CLEAN, INFECTED, ERROR, NOT_SCANNED = "clean", "infected", "error", "not_scanned"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ScanResult:
    status: str  # clean | infected | error | not_scanned
    scanner: str
    signature: str | None = None  # the name of what was found (infected)
    detail: str | None = None  # why the scanner could not tell (error); for logs and admins, not uploaders

    @property
    def passed(self) -> bool:
        return self.status in (CLEAN, NOT_SCANNED)


class Scanner:
    """One way of scanning. Subclasses set `name` and implement `scan_path`; `config` is app.config."""

    name = ""

    def __init__(self, config):
        self.config = config

    def scan_path(self, path: str) -> ScanResult:
        raise TypeError(f"scanner {self.name!r} does not implement scan_path")

    def scan_bytes(self, data: bytes) -> ScanResult:
        """Scan bytes held in memory: written to a private temporary file, which is removed afterwards."""
        fd, tmp = tempfile.mkstemp(prefix="scan-", dir=scratch_dir(self.config))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return self.scan_path(tmp)
        finally:
            os.unlink(tmp)

    def result(self, status: str, signature: str | None = None, detail: str | None = None) -> ScanResult:
        return ScanResult(status, self.name, signature, detail)


class NoScanner(Scanner):
    """The default: nothing is scanned (the result says so, it never claims "clean")."""

    name = "none"

    def scan_path(self, path: str) -> ScanResult:
        return self.result(NOT_SCANNED)

    def scan_bytes(self, data: bytes) -> ScanResult:
        return self.result(NOT_SCANNED)


_FOUND = re.compile(r"^(?:stream|.*?): (.+) FOUND$")


class ClamdScanner(Scanner):
    """clamd's INSTREAM: "zINSTREAM\\0", then chunks (4-byte big-endian length + bytes), then a zero length.

    The daemon answers "stream: OK", "stream: <signature> FOUND" or "<reason> ERROR" (for instance
    "INSTREAM size limit exceeded. ERROR" when the file is larger than its StreamMaxLength).
    """

    name = "clamd"

    def _connect(self) -> socket.socket:
        address = str(self.config.get("CLAMD_ADDRESS") or "unix:/run/clamav/clamd.ctl")
        timeout = float(self.config.get("UPLOAD_SCAN_TIMEOUT") or 120)
        if address.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: object = address[len("unix:"):]
        elif address.startswith("tcp://"):
            host, _, port = address[len("tcp://"):].rstrip("/").rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        else:
            raise ValueError(f"CLAMD_ADDRESS {address!r} must start with unix: or tcp://")
        try:
            sock.settimeout(timeout)
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock

    def _stream(self, chunks) -> ScanResult:
        try:
            with self._connect() as sock:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                reply = b""
                while not reply.endswith(b"\0"):
                    part = sock.recv(4096)
                    if not part:
                        break
                    reply += part
        except (OSError, ValueError) as exc:
            return self.result(ERROR, detail=f"clamd: {exc}")
        text = reply.rstrip(b"\0\n").decode("utf-8", "replace").strip()
        if text.endswith(": OK"):
            return self.result(CLEAN)
        m = _FOUND.match(text)
        if m:
            return self.result(INFECTED, signature=m.group(1)[:255])
        return self.result(ERROR, detail=f"clamd: {text[:300] or 'no answer'}")

    def scan_path(self, path: str) -> ScanResult:
        try:
            fh = open(path, "rb")  # noqa: SIM115  (read inside the generator, closed below)
        except OSError as exc:
            return self.result(ERROR, detail=f"clamd: cannot read the file: {exc}")
        with fh:
            return self._stream(iter(lambda: fh.read(CHUNK), b""))

    def scan_bytes(self, data: bytes) -> ScanResult:
        return self._stream(data[i:i + CHUNK] for i in range(0, len(data), CHUNK))


class CommandScanner(Scanner):
    """A scanning program: argv list (or a string split like a shell would, but never run by one)."""

    name = "command"

    def argv(self, path: str) -> list[str]:
        command = self.config.get("UPLOAD_SCAN_COMMAND") or []
        parts = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
        if not parts:
            raise ValueError("UPLOAD_SCAN_COMMAND is empty")
        if not any("{path}" in p for p in parts):
            parts.append("{path}")
        return [p.replace("{path}", path) for p in parts]

    def scan_path(self, path: str) -> ScanResult:
        timeout = float(self.config.get("UPLOAD_SCAN_TIMEOUT") or 120)
        try:
            argv = self.argv(path)
            # an argv list from the operator's configuration, no shell; the path is ours (server-made)
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return self.result(ERROR, detail=f"{type(exc).__name__}: {exc}"[:300])
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode == 0:
            return self.result(CLEAN)
        if proc.returncode == 1:
            signature = None
            for line in out.splitlines():
                m = _FOUND.match(line.strip())
                if m:
                    signature = m.group(1)[:255]
                    break
            return self.result(INFECTED, signature=signature or "unknown")
        err = (proc.stderr.decode("utf-8", "replace") or out).strip()
        return self.result(ERROR, detail=f"exit {proc.returncode}: {err[:300]}")


BUILTIN = (NoScanner, ClamdScanner, CommandScanner)


def scratch_dir(config) -> str:
    """Where bytes held in memory are written for a scanner that needs a path (under the quarantine root)."""
    path = Path(quarantine_root(config)) / "scan-tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)


def quarantine_root(config) -> str:
    return str(config.get("UPLOAD_QUARANTINE_ROOT") or Path(current_app.instance_path) / "quarantine")


def scanner_types() -> dict[str, type[Scanner]]:
    """Every scanner by name: the built-in ones and those plugins gather (a plugin may replace one)."""
    from lms.plugins import hook

    types = {cls.name: cls for cls in BUILTIN}
    for result in hook().lms_gather_scanners():
        for cls in result or []:
            types[cls.name] = cls
    return types


def get_scanner() -> Scanner:
    name = str(current_app.config.get("UPLOAD_SCANNER") or "none")
    cls = scanner_types().get(name)
    if cls is None:
        raise RuntimeError(f"UPLOAD_SCANNER {name!r} names no scanner (known: {', '.join(sorted(scanner_types()))})")
    return cls(current_app.config)


def _guarded(fn, scanner: Scanner) -> ScanResult:
    try:
        res = fn()
    except Exception as exc:  # a scanner that breaks must not let a file through as if it were clean
        log.exception("scanner %s failed", scanner.name)
        return ScanResult(ERROR, scanner.name, detail=f"{type(exc).__name__}: {exc}"[:300])
    if res.status not in (CLEAN, INFECTED, ERROR, NOT_SCANNED):
        return ScanResult(ERROR, scanner.name, detail=f"unknown scan status {res.status!r}")
    if res.status != CLEAN and res.status != NOT_SCANNED:
        log.warning("upload scan by %s: %s %s", res.scanner, res.status, res.signature or res.detail or "")
    return res


def _scanner_or_error() -> Scanner | ScanResult:
    try:
        return get_scanner()
    except RuntimeError as exc:  # a misconfigured scanner fails like an unreachable one (UPLOAD_SCAN_FAIL)
        log.error("%s", exc)
        return ScanResult(ERROR, str(current_app.config.get("UPLOAD_SCANNER")), detail=str(exc)[:300])


def scan_path(path: str) -> ScanResult:
    scanner = _scanner_or_error()
    if isinstance(scanner, ScanResult):
        return scanner
    return _guarded(lambda: scanner.scan_path(path), scanner)


def scan_bytes(data: bytes) -> ScanResult:
    scanner = _scanner_or_error()
    if isinstance(scanner, ScanResult):
        return scanner
    return _guarded(lambda: scanner.scan_bytes(data), scanner)
