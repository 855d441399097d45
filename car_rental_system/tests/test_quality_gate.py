"""The linter and the type checker are part of `make check`, which `make test`
(and so CI's `.ci/run`) runs first; the code base passes the linter."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _recipe(target: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.M)
    assert match, f"no {target} target"
    return match.group(1).split(), [line.strip() for line in match.group(2).splitlines()]


def _runs(target: str, seen: set[str] | None = None) -> list[str]:
    """Every recipe line ``make target`` runs, prerequisites first (recursively)."""
    seen = set() if seen is None else seen
    if target in seen:
        return []
    seen.add(target)
    prerequisites, lines = _recipe(target)
    out = []
    for name in prerequisites:
        if not name.startswith("$("):
            out += _runs(name, seen)
    return out + lines


def test_make_check_runs_ruff_and_mypy_and_django_checks():
    lines = " ".join(_runs("check"))
    assert "ruff check ." in lines and "ruff format --check ." in lines
    assert "mypy" in lines
    assert "manage.py check" in lines and "makemigrations --check" in lines


def test_ci_runs_make_check_through_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    prerequisites, _lines = _recipe("test")
    assert "check" in prerequisites


def test_the_tools_are_pinned():
    pins = dict(line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    for tool in ("ruff", "mypy", "django-stubs"):
        assert tool in pins, tool


def test_the_code_base_passes_the_linter():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        ruff = shutil.which("ruff")
        if ruff is None:
            pytest.skip("ruff is not installed (make venv)")
    result = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = subprocess.run([str(ruff), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_the_ledger_property_test_keeps_its_depth_in_ci_and_runs_short_locally():
    from hypothesis import settings as hypothesis_settings

    ci = hypothesis_settings.get_profile("ledger-ci")
    local = hypothesis_settings.get_profile("ledger-local")
    assert ci.stateful_step_count == 50 and ci.derandomize
    if "LEDGER_EXAMPLES" not in os.environ:
        assert ci.max_examples == 40
        assert local.max_examples < ci.max_examples
    assert local.stateful_step_count < ci.stateful_step_count
    assert re.search(r"^export CI=true$", (ROOT / ".ci" / "run").read_text(), re.M)
    source = (ROOT / "rentals" / "tests" / "test_ledger_properties.py").read_text()
    assert 'LEDGER_PROFILE = "ledger-ci" if os.environ.get("CI") else "ledger-local"' in source
    assert "get_profile(LEDGER_PROFILE)" in source
