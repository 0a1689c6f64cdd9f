"""`cityops models train`: Ultralytics training on a YOLO-format data set, offline, CPU by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.offline import OFFLINE_TRAIN_ARGS, import_ultralytics


@dataclass(frozen=True, slots=True)
class TrainRequest:
    data: Path  # the data set's YAML (paths, names)
    base: str  # a local .pt to fine-tune, or a model YAML (yolo11n.yaml) for random init
    epochs: int
    imgsz: int
    out: Path
    device: str = "cpu"
    batch: int = 16
    seed: int = 0


def check_request(req: TrainRequest) -> None:
    """Refuse what would otherwise fail deep inside Ultralytics or trigger a weights download."""
    if not req.data.is_file():
        raise ValueError(f"data set YAML {req.data} not found")
    if req.epochs < 1 or req.imgsz < 32 or req.imgsz % 32:
        raise ValueError(f"--epochs must be >= 1 and --imgsz a multiple of 32 (got {req.epochs}, {req.imgsz})")
    base = Path(req.base)
    if base.suffix == ".pt" and not base.is_file():
        # Ultralytics would try to download a missing official .pt; nothing here may.
        raise ValueError(
            f"base weights {req.base} not found; give a local .pt, or a model YAML such as yolo11n.yaml to start "
            "from random weights (no weights are downloaded)"
        )
    if base.suffix not in (".pt", ".yaml", ".yml"):
        raise ValueError(f"--base {req.base!r} must be a .pt weights file or a model .yaml")


def train(req: TrainRequest) -> Path:
    """Train and return the path of the best weights (`OUT/train/weights/best.pt`)."""
    check_request(req)
    ultralytics = import_ultralytics()
    model = ultralytics.YOLO(req.base)
    model.train(
        data=str(req.data.resolve()),
        epochs=req.epochs,
        imgsz=req.imgsz,
        device=req.device,
        batch=req.batch,
        seed=req.seed,
        deterministic=True,
        project=str(req.out.resolve()),
        name="train",
        exist_ok=True,
        workers=0,  # no dataloader processes: small jobs, and CI machines with 2 cores
        verbose=False,
        **OFFLINE_TRAIN_ARGS,
    )
    weights = req.out.resolve() / "train" / "weights"
    best = weights / "best.pt"
    return best if best.is_file() else weights / "last.pt"
