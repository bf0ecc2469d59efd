"""Every knob in one place: the README's Settings section names every variable settings.py reads
(and no ARTSEARCH_ variable the code lacks); impossible values stop the start (system check); the
threshold defaults are ml.rules.Thresholds' own; the study's one-letter names still work, warned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from artsearch import settings as settings_module
from ml.rules import Thresholds
from recommender.checks import settings_check

ROOT = Path(__file__).resolve().parents[2]
ENV_READERS = {"getenv", "envbool", "envint", "envfloat", "envsecret"}


def _names_in_code() -> tuple[set[str], set[str]]:
    """(variables settings.py reads from the environment, ARTSEARCH_ names it defines or reads)."""
    tree = ast.parse((ROOT / "artsearch" / "settings.py").read_text())
    read: set[str] = set()
    ours: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ENV_READERS:
                read.add(node.args[0].value)
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "environ" and isinstance(node.slice, ast.Constant)):
            read.add(node.slice.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"ARTSEARCH_[A-Z0-9_]+", node.value):
            ours.add(node.value)
        elif isinstance(node, ast.Name) and node.id.startswith("ARTSEARCH_") and isinstance(node.ctx, ast.Store):
            ours.add(node.id)
    return read, ours | {n for n in read if n.startswith("ARTSEARCH_")}


def _settings_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_table_names_every_setting_and_only_real_ones() -> None:
    read, ours = _names_in_code()
    section = _settings_section()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert not (read | ours) - documented, "in settings.py but not in README's Settings"
    rows = set(re.findall(r"^\| `(ARTSEARCH_[A-Z0-9_]+)`", section, flags=re.MULTILINE))
    assert not rows - ours, "in README's Settings table but not in settings.py"
    assert rows >= set(settings.THRESHOLD_ENV_NAMES.values())


def test_threshold_defaults_are_the_rules_own() -> None:
    assert Thresholds.from_mapping(settings.ARTSEARCH_THRESHOLDS) == Thresholds()


def test_the_one_letter_names_still_work_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTSEARCH_INLIERS_LOW", raising=False)
    monkeypatch.setenv("ARTSEARCH_n", "12")
    with pytest.warns(DeprecationWarning, match="ARTSEARCH_n is deprecated; set ARTSEARCH_INLIERS_LOW"):
        assert settings_module._threshold("n", "ARTSEARCH_INLIERS_LOW", 10) == 12
    assert any(m.id == "artsearch.W001" and "ARTSEARCH_n" in m.msg for m in settings_check())
    monkeypatch.setenv("ARTSEARCH_INLIERS_LOW", "11")  # the new name wins
    assert settings_module._threshold("n", "ARTSEARCH_INLIERS_LOW", 10) == 11


def _ids(**overrides: object) -> list[str]:
    with override_settings(**overrides):
        return [m.id for m in settings_check() if m.is_serious()]


def test_the_system_check_refuses_impossible_values() -> None:
    assert _ids() == []
    assert _ids(ARTSEARCH_MAX_UPLOAD_BYTES=0) == ["artsearch.E001"]
    assert _ids(ARTSEARCH_DENSE_ORB_FEATURES=-1) == ["artsearch.E002"]
    assert _ids(ARTSEARCH_FALLBACK_MIN_EVIDENCE=1.5) == ["artsearch.E003"]
    assert _ids(ARTSEARCH_VERIFY_TOP=500) == ["artsearch.E004"]
    assert _ids(ARTSEARCH_DEEP_SHORTLIST=50) == ["artsearch.E005"]
    assert _ids(ARTSEARCH_DEEP_SHORTLIST=0) == []  # off
    bad = {**settings.ARTSEARCH_THRESHOLDS, "n": 30}
    with override_settings(ARTSEARCH_THRESHOLDS=bad):
        (error,) = settings_check()
    assert error.id == "artsearch.E006" and "n <= N" in error.msg and "ARTSEARCH_INLIERS_LOW" in error.hint
