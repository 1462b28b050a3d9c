"""scripts/vuln_scan.py (SUP-02): a vulnerability scan that reports UNAVAILABLE instead of passing silently.

pip-audit is replaced by a stand-in that behaves like the real one offline (every package skipped,
"No known vulnerabilities found", exit 0 without --strict) or online (advisories found).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "vuln_scan.py"

FAKE = textwrap.dedent('''
    import json, os, sys
    args = sys.argv[1:]
    req, out = args[args.index("-r") + 1], args[args.index("-o") + 1]
    mode = os.environ["FAKE_PIP_AUDIT"]
    if mode == "crash":
        print("ConnectionError: api.osv.dev", file=sys.stderr)
        sys.exit(2)
    deps = []
    for line in open(req):
        name, _, version = line.strip().partition("==")
        if not name:
            continue
        if mode == "offline":
            deps.append({"name": name, "skip_reason": "Dependency not found on PyPI and could not be audited: "
                                                      f"{name} ({version})"})
        elif (name, version) in (("flask", "0.12.2"), ("badpkg", "1.0")):
            deps.append({"name": name, "version": version, "vulns": [{"id": f"GHSA-{name}", "fix_versions": []}]})
        else:
            deps.append({"name": name, "version": version, "vulns": []})
    json.dump({"dependencies": deps, "fixes": []}, open(out, "w"))
    print("No known vulnerabilities found" if mode == "offline" else "done")
    sys.exit(1 if mode == "offline" and "--strict" in args else 0)
''')


@pytest.fixture
def run(tmp_path, monkeypatch):
    fake = tmp_path / "fake_pip_audit.py"
    fake.write_text(FAKE)

    def do(mode: str, pins: list[str], ignore: str = "") -> tuple[int, str]:
        req = tmp_path / "requirements.lock"
        req.write_text("\n".join(pins) + "\n")
        ign = tmp_path / "ignore.txt"
        ign.write_text(ignore)
        monkeypatch.setenv("FAKE_PIP_AUDIT", mode)
        proc = subprocess.run([sys.executable, str(SCRIPT), "-r", str(req), "--ignore", str(ign),
                               "--pip-audit", f"{sys.executable} {fake}"], capture_output=True, text=True,
                              timeout=60)
        return proc.returncode, proc.stdout + proc.stderr

    return do


def test_offline_scanner_is_unavailable_never_pass(run):
    code, out = run("offline", ["flask==3.1.0"])
    assert code == 3 and out.strip().endswith("vuln scan: UNAVAILABLE")
    assert "canary flask==0.12.2" in out and "Dependency not found on PyPI" in out and "PASS" not in out


def test_scanner_that_fails_is_unavailable(run):
    code, out = run("crash", ["flask==3.1.0"])
    assert code == 3 and "api.osv.dev" in out and "UNAVAILABLE" in out


def test_working_scanner_passes_clean_dependencies(run):
    code, out = run("online", ["flask==3.1.0", "sqlalchemy==2.0.40"])
    assert code == 0 and "canary flask==0.12.2: 1 known" in out and out.strip().endswith("vuln scan: PASS")


def test_a_vulnerable_dependency_fails(run):
    code, out = run("online", ["flask==3.1.0", "badpkg==1.0"])
    assert code == 1 and "badpkg 1.0: GHSA-badpkg" in out and out.strip().endswith("vuln scan: FAIL")


def test_ignore_entries_carry_an_expiry(run):
    soon = (date.today() + timedelta(days=30)).isoformat()
    code, out = run("online", ["badpkg==1.0"], ignore=f"GHSA-badpkg {soon} no fix released; not reachable\n")
    assert code == 0 and f"ignored until {soon}" in out
    past = (date.today() - timedelta(days=1)).isoformat()
    code, out = run("online", ["badpkg==1.0"], ignore=f"GHSA-badpkg {past} was waiting for a fix\n")
    assert code == 1 and "ignore entry expired" in out


def test_missing_pip_audit_is_unavailable(tmp_path):
    req = tmp_path / "r.txt"
    req.write_text("flask==3.1.0\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "-r", str(req), "--pip-audit", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "UNAVAILABLE" in proc.stdout
