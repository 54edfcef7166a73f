"""tests/conftest.py: tests that read ../shared skip on a user's clone without it, and fail in CI."""
from __future__ import annotations

import pytest

from tests.conftest import require_shared


def test_missing_shared_skips_naming_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=str(tmp_path / "shared")):
        require_shared(tmp_path / "shared")


def test_missing_shared_fails_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require_shared(tmp_path / "shared")


def test_present_shared_is_returned(tmp_path):
    assert require_shared(tmp_path) == tmp_path
