"""Known-vulnerability scan of the dependencies that cannot pass silently (checklist SUP-02).

pip-audit prints "No known vulnerabilities found" and exits 0 when it cannot reach an advisory
database (a simple-index mirror has no JSON API; api.osv.dev may be unreachable). So this script
first audits a canary, a release with published advisories (flask==0.12.2). Only when the canary
reports at least one vulnerability is the real result trusted:

    PASS         the canary was caught and the dependencies have no vulnerability that is not ignored
    FAIL         at least one vulnerability (or an ignore entry past its expiry date)
    UNAVAILABLE  pip-audit is missing, fails, finds nothing in the canary, or could not audit
                 every dependency: the scan did not happen, whatever pip-audit printed

Usage: python scripts/vuln_scan.py [-r REQUIREMENTS] [--python .venv/bin/python] [--pip-audit CMD]
                                   [--ignore scripts/vuln-ignore.txt] [--service pypi|osv]
Without -r the packages installed in --python's environment are audited (pip freeze, editable
installs left out). Exit status: 0 PASS, 1 FAIL, 3 UNAVAILABLE.

Ignore file: one entry per line, `<advisory id> <expires YYYY-MM-DD> <reason…>`; `#` starts a comment.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANARY = "flask==0.12.2"
EXIT = {"PASS": 0, "FAIL": 1, "UNAVAILABLE": 3}


@dataclass
class Audit:
    vulns: list[tuple[str, str, str]] = field(default_factory=list)  # (package, version, advisory id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (package, reason)
    error: str | None = None


@dataclass
class Ignore:
    advisory: str
    expires: date
    reason: str


def find_pip_audit(explicit: str | None) -> list[str] | None:
    if explicit:
        return shlex.split(explicit)
    for candidate in (shutil.which("pip-audit"), ROOT / ".venv" / "bin" / "pip-audit"):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    probe = subprocess.run([sys.executable, "-c", "import pip_audit"], capture_output=True)
    return [sys.executable, "-m", "pip_audit"] if probe.returncode == 0 else None


def run_audit(cmd: list[str], requirements: Path, service: str, timeout: float) -> Audit:
    """pip-audit on pinned requirements (no resolution, no pip), read back from its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = cmd + ["--strict", "--no-deps", "--disable-pip", "-r", str(requirements), "-s", service,
                      "-f", "json", "-o", str(out), "--progress-spinner", "off"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)  # noqa: S603  (argv list, no shell)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Audit(error=f"pip-audit did not run: {exc}")
        try:
            report = json.loads(out.read_text())
        except (OSError, ValueError):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            return Audit(error=f"pip-audit exited {proc.returncode} without a report: " + " | ".join(tail))
    audit = Audit()
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            audit.skipped.append((dep.get("name", "?"), dep["skip_reason"]))
        for v in dep.get("vulns", []):
            audit.vulns.append((dep.get("name", "?"), dep.get("version", "?"), v.get("id", "?")))
    return audit


def read_ignores(path: Path | None) -> list[Ignore]:
    if path is None or not path.is_file():
        return []
    found = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise SystemExit(f"{path}:{n}: an ignore entry needs an advisory id, an expiry date and a reason")
        found.append(Ignore(parts[0], date.fromisoformat(parts[1]), parts[2]))
    return found


def frozen_requirements(python: str, dest: Path) -> Path:
    """The pinned `name==version` list of an environment, without editable (local) installs."""
    proc = subprocess.run(  # noqa: S603  (argv list, no shell)
        [python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True)
    pins = [ln for ln in proc.stdout.splitlines() if "==" in ln and not ln.startswith("-e")]
    dest.write_text("\n".join(pins) + "\n")
    return dest


def scan(args) -> tuple[str, list[str]]:
    lines: list[str] = []
    cmd = find_pip_audit(args.pip_audit)
    if cmd is None:
        return "UNAVAILABLE", ["pip-audit is not installed (pip install pip-audit, or --pip-audit CMD)"]
    with tempfile.TemporaryDirectory() as tmp:
        canary_file = Path(tmp) / "canary.txt"
        canary_file.write_text(CANARY + "\n")
        canary = run_audit(cmd, canary_file, args.service, args.timeout)
        if canary.error:
            return "UNAVAILABLE", [f"canary {CANARY}: {canary.error}"]
        if not canary.vulns:
            why = "; ".join(f"{n}: {r}" for n, r in canary.skipped) or "no vulnerability reported"
            return "UNAVAILABLE", [f"canary {CANARY} is known to be vulnerable but pip-audit reported none "
                                   f"({why}): no advisory database was reachable"]
        lines.append(f"canary {CANARY}: {len(canary.vulns)} known vulnerabilities found (the scanner works)")
        target = Path(args.requirements) if args.requirements else frozen_requirements(
            args.python, Path(tmp) / "installed.txt")
        result = run_audit(cmd, target, args.service, args.timeout)
    if result.error:
        return "UNAVAILABLE", lines + [f"dependencies: {result.error}"]
    ignores = {i.advisory: i for i in read_ignores(Path(args.ignore) if args.ignore else None)}
    today = date.today()
    failing = []
    for name, version, advisory in result.vulns:
        entry = ignores.get(advisory)
        if entry and entry.expires >= today:
            lines.append(f"ignored until {entry.expires}: {name} {version} {advisory} ({entry.reason})")
        else:
            note = f" (ignore entry expired {entry.expires})" if entry else ""
            failing.append(f"{name} {version}: {advisory}{note}")
    if failing:
        return "FAIL", lines + [f"vulnerable: {f}" for f in failing]
    if result.skipped:
        return "UNAVAILABLE", lines + [f"not audited: {n} ({r})" for n, r in result.skipped]
    return "PASS", lines + ["dependencies: no known vulnerability"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-r", "--requirements", help="pinned requirements to audit (default: the installed packages)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                   help="interpreter whose installed packages are audited without -r")
    p.add_argument("--pip-audit", help="how to run pip-audit (default: found on PATH or in .venv)")
    p.add_argument("--ignore", default=str(ROOT / "scripts" / "vuln-ignore.txt"))
    p.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args(argv)
    verdict, lines = scan(args)
    for line in lines:
        print(line)
    print(f"vuln scan: {verdict}")
    return EXIT[verdict]


if __name__ == "__main__":
    sys.exit(main())
