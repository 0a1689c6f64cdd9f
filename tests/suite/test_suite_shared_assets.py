"""A CI run without ../shared must fail, never pass by skipping."""

from pathlib import Path

import pytest

from tests.shared_assets import require_shared


def test_missing_file_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"nope\.onnx missing.*CI job must provide"):
        require_shared(tmp_path / "nope.onnx")


def test_missing_file_skips_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"nope\.onnx missing"):
        require_shared(tmp_path / "nope.onnx")


def test_present_files_pass(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"x")
    require_shared(tmp_path / "model.onnx")
