"""The installed (non-editable) package works away from the checkout, as on a Jetson image: the wheel is built,
installed into a clean virtual environment and `cityops edge detect` runs from another folder. The model manifest
once lived only in the checkout (found relative to the source file), so an installed agent could not start."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.shared_assets import MEDIA_DIR, MODELS_DIR, require_shared

REPO = Path(__file__).resolve().parents[2]


def test_installed_wheel_detects_from_another_folder(tmp_path: Path) -> None:
    picture, model = MEDIA_DIR / "dog.jpg", MODELS_DIR / "yolox_nano.onnx"
    require_shared(picture, model)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = wheels.glob("cityops-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        manifest = archive.read("edge_agent/models/manifest.yaml")
    assert manifest == (REPO / "models" / "manifest.yaml").read_bytes()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # The dependencies come from this environment, added as a plain path: its .pth files (this checkout's editable
    # install among them) are not read, so `edge_agent` can only come from the wheel.
    site = Path(_run_python(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert Path(_run_python(python, "import edge_agent; print(edge_agent.__file__)", elsewhere)).is_relative_to(site)
    result = subprocess.run(
        [str(venv / "bin" / "cityops"), "edge", "detect", str(picture), "--models-dir", str(MODELS_DIR), "--json"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "yolox_nano"
    assert "dog" in {d["class"] for d in answer["detections"]}


def _run_python(python: Path, code: str, cwd: Path) -> str:
    return subprocess.check_output([str(python), "-c", code], cwd=cwd, text=True, timeout=120).strip()
