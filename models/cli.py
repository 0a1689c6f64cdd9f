"""`cityops models ...`: train, export, eval, publish. Standard library only at module level, so the subcommands
are listed on any install; those that need Ultralytics/torch (the `training` extra) say so when it is missing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TOKEN_ENV = "CITYOPS_HUB_TOKEN"
PASSWORD_ENV = "CITYOPS_HUB_PASSWORD"


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the model chain: train, export to ONNX, evaluate, publish to the hub")
    models_sub = models.add_subparsers(dest="models_command", metavar="STEP", required=True)

    train = models_sub.add_parser("train", help="train a YOLO detector on a YOLO-format data set (training extra)")
    train.add_argument("--data", type=Path, required=True, help="data set YAML (Ultralytics/YOLO format)")
    train.add_argument("--base", default="yolo11n.yaml", help="local .pt to fine-tune, or a model YAML (random init)")
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--imgsz", type=int, default=640, help="square input size, a multiple of 32")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--device", default="cpu", help="cpu (default), or a CUDA index such as 0")
    train.add_argument("--out", type=Path, default=Path("runs/models"), help="run folder; weights in OUT/train/")
    train.set_defaults(func=_train)

    export = models_sub.add_parser("export", help="export ONNX FP32/FP16/INT8 and add manifest entries")
    export.add_argument("weights", type=Path, metavar="WEIGHTS", help=".pt from train, or an FP32 .onnx export")
    export.add_argument("--formats", default="fp32", help="comma-separated: fp32,fp16,int8 (default fp32)")
    export.add_argument("--out", type=Path, default=Path("runs/models/export"), help="folder for the .onnx files")
    export.add_argument("--manifest", type=Path, default=None, help="manifest to add entries to")
    export.add_argument("--name", default=None, help="model name in the manifest (default: from the weights file)")
    export.add_argument("--version", default="1", help="model version in the manifest")
    export.add_argument("--imgsz", type=int, default=None, help="export input size (default: the training size)")
    export.set_defaults(func=_export)

    evaluate = models_sub.add_parser("eval", help="mAP on a labelled set; --events adds the edge's event evaluation")
    evaluate.add_argument("weights", type=Path, metavar="WEIGHTS_OR_ONNX")
    evaluate.add_argument("--data", type=Path, required=True, help="data set YAML with a val split")
    evaluate.add_argument("--imgsz", type=int, default=None)
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--events", type=Path, default=None, metavar="LABELS", help="labelled clips for `edge eval`")
    evaluate.add_argument(
        "--events-model",
        default=None,
        metavar="NAME",
        help="manifest entry the clips are replayed with (default: the labels' model); its classes must fit the rules",
    )
    evaluate.set_defaults(func=_eval)

    publish = models_sub.add_parser("publish", help="upload an ONNX model to the hub and start a canary rollout")
    publish.add_argument("model", type=Path, metavar="MODEL.onnx")
    publish.add_argument("--hub", required=True, help="hub base URL, e.g. https://hub.example")
    publish.add_argument("--name", default=None, help="model name (default: from --manifest by sha256, else file)")
    publish.add_argument("--version", default=None, help="model version (default: from --manifest by sha256)")
    publish.add_argument("--manifest", type=Path, default=None, help="take name and version from this manifest")
    publish.add_argument(
        "--user", default=None, help=f"hub user (password from --password-file, {PASSWORD_ENV} or --password)"
    )
    publish.add_argument("--password-file", type=Path, default=None, help="file whose first line is the password")
    # Kept for scripts and tests; a password on the command line shows in `ps`, so the file or the env is better.
    publish.add_argument("--password", default=None, help="the password itself (visible in ps: prefer the others)")
    publish.add_argument("--canary", default="", help="comma-separated device ids to roll the model out to")
    publish.set_defaults(func=_publish)


def _fail(message: str) -> int:
    print(f"cityops models: {message}", file=sys.stderr)
    return 2


def _train(args: argparse.Namespace) -> int:
    from models.offline import TrainingExtraMissing
    from models.train import TrainRequest, train

    req = TrainRequest(args.data, args.base, args.epochs, args.imgsz, args.out, args.device, args.batch)
    try:
        best = train(req)
    except (TrainingExtraMissing, ValueError) as exc:
        return _fail(str(exc))
    print(json.dumps({"weights": str(best)}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from models.export import export, parse_formats
    from models.manifest_entry import ManifestEntryError
    from models.offline import TrainingExtraMissing

    try:
        formats = parse_formats(args.formats)
        results = export(
            args.weights, formats, args.out, name=args.name, version=args.version, imgsz=args.imgsz,
            manifest=args.manifest,
        )  # fmt: skip
    except (TrainingExtraMissing, ManifestEntryError, ValueError) as exc:
        return _fail(str(exc))
    except ImportError as exc:  # onnx / onnxruntime for the conversions
        return _fail(f"export needs onnx and onnxruntime (edge or training extra): {exc}")
    for r in results:
        print(json.dumps({"precision": r.precision, "file": str(r.path), "name": r.entry["name"],
                          "sha256": r.entry["sha256"], "manifest": r.manifest_change}))  # fmt: skip
    return 0


def _eval(args: argparse.Namespace) -> int:
    from models.evaluate import EventEvalUnavailable, event_metrics, map_metrics
    from models.offline import TrainingExtraMissing

    try:
        metrics = map_metrics(args.weights, args.data, args.imgsz, args.device)
    except (TrainingExtraMissing, ValueError) as exc:
        return _fail(str(exc))
    print(f"mAP50 {metrics['map50']:.4f}  mAP50-95 {metrics['map50_95']:.4f}")
    print(json.dumps(metrics))
    if args.events is not None:
        try:
            events = event_metrics(args.events, model=args.events_model)
        except (EventEvalUnavailable, ValueError) as exc:
            return _fail(str(exc))
        print(json.dumps({"events": events}, default=str))
    return 0


def _release_identity(args: argparse.Namespace) -> tuple[str, str]:
    name, version = args.name, args.version
    if args.manifest is not None and (name is None or version is None):
        import yaml

        from edge_agent.models.manifest import file_sha256

        sha = file_sha256(args.model)
        data = yaml.safe_load(args.manifest.read_text()) or {}
        found = next((m for m in data.get("models") or [] if m.get("sha256") == sha), None)
        if found is None:
            raise ValueError(f"{args.model} (sha256 {sha[:12]}...) is not in {args.manifest}; export it first")
        name, version = name or found["name"], version or str(found["version"])
    if version is None:
        raise ValueError("give --version, or --manifest holding this file's entry")
    from models.manifest_entry import model_name

    return model_name(name or args.model.stem), version


def _publish(args: argparse.Namespace) -> int:
    try:
        import httpx
    except ImportError:
        return _fail("publish needs httpx (edge or hub extra)")
    from models.publish import PublishError, login, publish

    token = os.environ.get(TOKEN_ENV)
    password = args.password or os.environ.get(PASSWORD_ENV)
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text().splitlines()
        except OSError as exc:
            return _fail(f"cannot read --password-file {args.password_file}: {exc.strerror or exc}")
        password = lines[0] if lines else ""
        if not password:
            return _fail(f"--password-file {args.password_file} is empty")
    if args.user and not password:
        return _fail(f"--user {args.user} needs --password-file, {PASSWORD_ENV} or --password")
    if not token and not args.user:
        return _fail(f"give --user (with --password-file, {PASSWORD_ENV} or --password) or a token in {TOKEN_ENV}")
    canary = [d.strip() for d in args.canary.split(",") if d.strip()]
    try:
        name, version = _release_identity(args)
        with httpx.Client(base_url=args.hub.rstrip("/"), timeout=300) as client:
            if args.user:
                token = login(client, args.user, password or "")
            release = publish(client, token or "", args.model, name, version, canary)
    except (PublishError, ValueError, OSError) as exc:
        return _fail(str(exc))
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the hub at {args.hub}: {exc}")
    print(json.dumps({"model": release.model, "rollout": release.rollout}, indent=2))
    return 0
