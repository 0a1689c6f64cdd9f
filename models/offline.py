"""Keep Ultralytics from reaching the network: no machine that trains here may download anything at run time.

Set before `ultralytics` is imported, because it reads its settings and environment at import time.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

# YOLO_OFFLINE: no GitHub asset look-ups or hub calls; YOLO_AUTOINSTALL: no `pip install` of a missing requirement
# (it would silently change the training venv); YOLO_CONFIG_DIR: a scratch folder, so the user's settings (which
# may turn sync on) are not read and nothing is written to ~/.config.
OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
}

# Training arguments that would otherwise download: plots fetch Arial.ttf, AMP checks fetch yolo11n.pt on CUDA.
OFFLINE_TRAIN_ARGS = {"plots": False, "amp": False}


def apply_offline_env(config_dir: Path | None = None) -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    if "YOLO_CONFIG_DIR" not in os.environ:
        folder = config_dir or Path(tempfile.mkdtemp(prefix="cityops-yolo-"))
        if config_dir is None:
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["YOLO_CONFIG_DIR"] = str(folder)


class TrainingExtraMissing(RuntimeError):
    """Ultralytics/torch are not installed: they live in the `training` extra only."""


def import_ultralytics():  # the module; untyped, as it is optional
    apply_offline_env()
    try:
        import ultralytics
    except ImportError as exc:
        raise TrainingExtraMissing(
            f"this command needs the training extra ({exc}); build the training venv with `make train-venv` "
            "and run it as `.venv-train/bin/python -m cityops.cli models ...`, or `pip install -e '.[training]'`"
        ) from None
    # No analytics/sync events whatever the settings say; the settings API differs across versions, and the
    # environment above already keeps it offline, so a failure here is not fatal.
    with contextlib.suppress(Exception):
        ultralytics.settings.update({"sync": False})
    return ultralytics
