"""The lock files (deploy/requirements/*.txt) are what pyproject.toml resolves to: `make lock` re-run on a copy keeps
every line (uv keeps the versions already in the output file), so a dependency added to pyproject.toml without
re-locking fails here. The dev lock is what `make install` puts into .venv, so the tests run the images' versions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "deploy" / "requirements"
EXTRAS = {"hub": ["hub"], "edge": ["edge", "plates"], "dev": ["dev"]}


def _makefile_lock_flags() -> str:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (flags,) = re.findall(r"\$\(BIN\)/uv pip compile -q pyproject\.toml \$\(2\) ([^\\]+)", makefile)
    return flags.strip()


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_lock_matches_pyproject(name: str, tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    assert Path(uv).exists(), "uv is missing: it comes with the dev extra (make install)"
    locked = LOCKS / f"{name}.txt"
    copy = tmp_path / locked.name
    shutil.copy(locked, copy)
    extras = [arg for extra in EXTRAS[name] for arg in ("--extra", extra)]
    command = [uv, "pip", "compile", "-q", "pyproject.toml", *extras, *_makefile_lock_flags().split(), "-o", str(copy)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert copy.read_text(encoding="utf-8") == locked.read_text(encoding="utf-8"), (
        f"{locked.relative_to(ROOT)} is stale: run `make lock` and commit it"
    )


def test_the_venv_has_the_dev_lock_versions() -> None:
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for line in (LOCKS / "dev.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)(?: ; (.*?))?\s+#", line)
        if not match or (match.group(3) and not _marker_holds(match.group(3))):
            continue
        name, pinned = match.group(1), match.group(2)
        try:
            installed = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name} missing")
            continue
        if installed != pinned:
            wrong.append(f"{name} {installed} (locked {pinned})")
    assert not wrong, "the venv differs from deploy/requirements/dev.txt (run make install): " + ", ".join(wrong)


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate()
