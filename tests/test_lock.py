"""requirements.lock (SUP-03): every dependency pinned with hashes, and nothing setup.cfg asks for missing."""
from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def check_lock():
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


H = "--hash=sha256:" + "a" * 64


def _write(tmp_path, lock: str, setup: str, build: str = "") -> tuple[Path, Path, Path]:
    paths = tmp_path / "requirements.lock", tmp_path / "setup.cfg", tmp_path / "build.in"
    for p, text in zip(paths, (lock, setup, build), strict=True):
        p.write_text(textwrap.dedent(text))
    return paths


SETUP = """
    [options]
    install_requires =
        flask>=3.0
        # a comment inside the list
        psycopg[binary]>=3.1
    [options.extras_require]
    test =
        pytest>=8.0
"""


def test_the_repository_lock_covers_setup_cfg_and_is_hashed(check_lock):
    assert check_lock.check(ROOT / "requirements.lock", ROOT / "setup.cfg", ROOT / "scripts" / "lock-build.in") == []
    pins, problems = check_lock.read_lock(ROOT / "requirements.lock")
    assert problems == [] and len(pins) >= 40
    assert {"setuptools", "wheel", "pip"} <= set(pins)  # the build backend and installer are pinned too


def test_a_complete_lock_passes(check_lock, tmp_path):
    lock = f"flask==3.1.0 \\\n    {H}\npsycopg==3.2.0 \\\n    {H}\npytest==8.3.0 \\\n    {H}\n"
    assert check_lock.check(*_write(tmp_path, lock, SETUP)) == []


def test_a_requirement_missing_from_the_lock_is_found(check_lock, tmp_path):
    lock = f"flask==3.1.0 \\\n    {H}\npytest==8.3.0 \\\n    {H}\n"
    problems = check_lock.check(*_write(tmp_path, lock, SETUP))
    assert problems == ["psycopg[binary]>=3.1 (setup.cfg) is not in requirements.lock"]


def test_a_pin_without_hash_or_a_range_is_refused(check_lock, tmp_path):
    lock = f"flask==3.1.0\npsycopg>=3.2 \\\n    {H}\npytest==8.3.0 \\\n    {H}\n--extra-index-url file:///opt/x\n"
    problems = check_lock.check(*_write(tmp_path, lock, SETUP))
    assert "flask==3.1.0 has no sha256 hash" in problems
    assert any("not pinned to one release" in p and "psycopg>=3.2" in p for p in problems)
    assert any("option line" in p for p in problems)


def test_a_locked_version_setup_cfg_does_not_accept_is_found(check_lock, tmp_path):
    lock = f"flask==2.3.0 \\\n    {H}\npsycopg==3.2.0 \\\n    {H}\npytest==8.3.0 \\\n    {H}\n"
    problems = check_lock.check(*_write(tmp_path, lock, SETUP))
    assert problems == ["flask>=3.0 (setup.cfg) does not accept the locked flask==2.3.0"]


def test_make_install_uses_the_lock_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): setup.cfg pyproject.toml $(LOCK)", 1)[1].split("\n\n", 1)[0]
    assert "scripts/check_lock.py" in recipe
    assert "--require-hashes -r $(LOCK)" in recipe
    assert "--no-deps --no-build-isolation -e ." in recipe
    assert not any("pip install" in ln and "--require-hashes" not in ln and "--no-deps" not in ln
                   for ln in recipe.splitlines())
