"""Is requirements.lock complete, pinned and hashed for what setup.cfg asks for? (checklist SUP-03)

`make install` installs the dependencies only from requirements.lock with `pip install --require-hashes`,
so a requirement added to setup.cfg without regenerating the lock (`make lock`) would simply be missing.
This check runs before every install and in the tests. It passes when

- every line of the lock pins one release (`name==version`) and carries at least one sha256 hash;
- every requirement of setup.cfg (install_requires and the extras `make install` uses) and of
  scripts/lock-build.in (the build backend) is pinned in the lock at a version it accepts.

Usage: python scripts/check_lock.py [--lock requirements.lock] [--setup setup.cfg]. Exit 1 with the reasons.
Runs on a bare interpreter (uses pip's vendored `packaging` when `packaging` is not installed).
"""
from __future__ import annotations

import argparse
import configparser
import re
import sys
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a fresh venv: only pip is there
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("test", "postgres", "redis")  # what `make install` installs: .[test,postgres,redis]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(path: Path) -> tuple[dict[str, str], list[str]]:
    """{canonical name: version} of the lock, and the problems of its entries."""
    pins: dict[str, str] = {}
    problems: list[str] = []
    entries: list[list[str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if raw[:1].isspace() and entries:
            entries[-1].append(line)
        else:
            entries.append([line])
    for entry in entries:
        head = entry[0]
        if head.startswith("-"):
            problems.append(f"option line in the lock: {head!r} (index and link options belong in pip's config)")
            continue
        m = _PIN.match(head)
        if not m:
            problems.append(f"not pinned to one release: {head!r}")
            continue
        name = canonicalize_name(m.group(1))
        pins[name] = m.group(2)
        if not any(re.search(r"--hash=sha256:[0-9a-f]{64}", part) for part in entry):
            problems.append(f"{m.group(1)}=={m.group(2)} has no sha256 hash")
    return pins, problems


def wanted(setup_cfg: Path, build_in: Path) -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(setup_cfg, encoding="utf-8")
    reqs = cfg.get("options", "install_requires", fallback="").splitlines()
    for extra in EXTRAS:
        reqs += cfg.get("options.extras_require", extra, fallback="").splitlines()
    if build_in.is_file():
        reqs += build_in.read_text(encoding="utf-8").splitlines()
    return [r.split("#", 1)[0].strip() for r in reqs if r.split("#", 1)[0].strip()]


def check(lock: Path, setup_cfg: Path, build_in: Path) -> list[str]:
    if not lock.is_file():
        return [f"{lock.name} is missing"]
    pins, problems = read_lock(lock)
    for text in wanted(setup_cfg, build_in):
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req} (setup.cfg) is not in {lock.name}")
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req} (setup.cfg) does not accept the locked {req.name}=={version}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lock", default=str(ROOT / "requirements.lock"))
    p.add_argument("--setup", default=str(ROOT / "setup.cfg"))
    p.add_argument("--build-in", default=str(ROOT / "scripts" / "lock-build.in"))
    args = p.parse_args(argv)
    problems = check(Path(args.lock), Path(args.setup), Path(args.build_in))
    if problems:
        for line in problems:
            print(f"requirements.lock: {line}", file=sys.stderr)
        print("requirements.lock is stale or incomplete: run `make lock` and commit requirements.lock",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
