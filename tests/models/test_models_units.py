"""The model chain's pure parts and its refusals, in the main venv (no torch): manifest entries, formats, the CLI
without the training extra, the hub's problem details, and the chain test's CI rule."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import test_models_chain

from edge_agent.models.manifest import load_manifest
from models.export import parse_formats
from models.manifest_entry import ManifestEntryError, add_to_manifest, model_name, ultralytics_entry
from models.publish import hub_problem

REPO = Path(__file__).resolve().parents[2]


def entry(name: str = "shapes", sha: str = "a" * 64) -> dict:
    return ultralytics_entry(name=name, version="1", file=f"{name}.onnx", sha256=sha, classes=["a", "b"],
                             imgsz=(96, 64), precision="fp32")  # fmt: skip


def test_entry_is_added_kept_and_never_clobbered(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text((REPO / "models" / "manifest.yaml").read_text())
    before = manifest.read_text()
    assert add_to_manifest(manifest, entry()) == "added"
    assert manifest.read_text().startswith(before)  # comments and shipped entries untouched
    spec = load_manifest(manifest).get("shapes")
    assert (spec.input.size, spec.input.channel_order, spec.output.layout) == ((96, 64), "rgb", "ultralytics")
    assert add_to_manifest(manifest, entry()) == "unchanged"
    with pytest.raises(ManifestEntryError, match="already has a model named 'shapes'"):
        add_to_manifest(manifest, entry(sha="b" * 64))


def test_new_manifest_and_a_refused_entry_leaves_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "manifest.yaml"
    assert add_to_manifest(fresh, entry()) == "added"
    assert [m.name for m in load_manifest(fresh).models] == ["shapes"]
    bad = {**entry("other"), "output": {"layout": "nonsense"}}
    before = fresh.read_text()
    with pytest.raises(ManifestEntryError, match="the edge refuses"):
        add_to_manifest(fresh, bad)
    assert fresh.read_text() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [("fp32", ["fp32"]), ("FP16, int8,fp16", ["fp16", "int8"]), ("fp64", ValueError), ("", ValueError)],
)
def test_parse_formats(text: str, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="choose from fp32, fp16, int8"):
            parse_formats(text)
    else:
        assert parse_formats(text) == expected


def test_model_names() -> None:
    assert model_name("Best-Shapes v2") == "best_shapes_v2"
    with pytest.raises(ManifestEntryError, match="--name"):
        model_name("---")


class FakeResponse:
    def __init__(self, body: object, text: str = "") -> None:
        self.body, self.text = body, text

    def json(self) -> object:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


def test_hub_problem_details() -> None:
    assert hub_problem(FakeResponse({"detail": "pick a new version"})) == "pick a new version"
    assert (
        hub_problem(FakeResponse({"detail": [{"loc": ["query", "name"], "msg": "required"}]})) == "query.name: required"
    )
    assert hub_problem(FakeResponse({"title": "Forbidden", "status": 403})) == "Forbidden"
    assert hub_problem(FakeResponse(ValueError("no json"), "Bad Gateway")) == "Bad Gateway"


def test_cli_lists_models_and_names_the_missing_training_extra(tmp_path: Path) -> None:
    """The main venv has no torch: `models --help` works, and train says which extra it needs."""
    pytest.importorskip("fastapi")  # the main (dev) venv, where ultralytics must be absent
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ultralytics is installed here; this checks an install without the training extra")
    run = [sys.executable, "-m", "cityops.cli", "models"]
    helped = subprocess.run([*run, "--help"], cwd=REPO, capture_output=True, text=True)
    assert helped.returncode == 0 and "publish" in helped.stdout
    data = tmp_path / "data.yaml"
    data.write_text("train: x\nval: x\nnames: {0: a}\n")
    train = subprocess.run(
        [*run, "train", "--data", str(data), "--imgsz", "64"], cwd=REPO, capture_output=True, text=True
    )
    assert train.returncode == 2 and "training extra" in train.stderr and "make train-venv" in train.stderr


def test_missing_training_venv_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(test_models_chain, "TRAIN_PYTHON", tmp_path / "no-venv" / "bin" / "python")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the model chain"):
        test_models_chain.training_python()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make train-venv"):
        test_models_chain.training_python()


def test_publish_refusals_name_the_problem(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    run = [sys.executable, "-m", "cityops.cli", "models", "publish", str(model), "--hub", "http://127.0.0.1:9"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_HUB_")}
    no_login = subprocess.run([*run, "--version", "1"], cwd=REPO, env=env, capture_output=True, text=True)
    assert no_login.returncode == 2 and "give --user" in no_login.stderr
    no_version = subprocess.run([*run, "--user", "tech", "--password", "p"], cwd=REPO, env=env, capture_output=True,
                                text=True)  # fmt: skip
    assert no_version.returncode == 2 and "give --version" in no_version.stderr
    closed = subprocess.run([*run, "--user", "tech", "--password", "p", "--version", "1"], cwd=REPO, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert closed.returncode == 2 and "cannot reach the hub at http://127.0.0.1:9" in closed.stderr
    secret = tmp_path / "password"
    secret.write_text("p\n")
    from_file = subprocess.run([*run, "--user", "tech", "--password-file", str(secret), "--version", "1"], cwd=REPO,
                               env=env, capture_output=True, text=True)  # fmt: skip
    assert from_file.returncode == 2 and "cannot reach the hub" in from_file.stderr  # the file's password was taken
    missing = subprocess.run([*run, "--user", "tech", "--password-file", str(tmp_path / "none"), "--version", "1"],
                             cwd=REPO, env=env, capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "cannot read --password-file" in missing.stderr


@pytest.mark.parametrize(
    ("base", "epochs", "imgsz", "problem"),
    [
        ("missing/yolo11n.pt", 1, 64, "not found; give a local .pt"),  # never downloaded
        ("yolo11n.onnx", 1, 64, "must be a .pt weights file or a model .yaml"),
        ("yolo11n.yaml", 0, 64, "--epochs must be >= 1"),
        ("yolo11n.yaml", 1, 100, "a multiple of 32"),
    ],
)
def test_train_request_refusals(tmp_path: Path, base: str, epochs: int, imgsz: int, problem: str) -> None:
    from models.train import TrainRequest, check_request

    data = tmp_path / "data.yaml"
    data.write_text("names: {0: a}\n")
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_request(TrainRequest(data, base, epochs, imgsz, tmp_path))
    check_request(TrainRequest(data, "yolo11n.yaml", 1, 64, tmp_path))


def test_models_eval_events_reaches_the_edge_evaluation() -> None:
    # `cityops models eval --events LABELS` replays the clips with `edge eval`'s own code, not a copy of it.
    from edge_agent.evaluation.replay import evaluate_labels
    from models.evaluate import event_eval_function

    assert event_eval_function() is evaluate_labels


def test_models_eval_events_refuses_bad_labels_by_name(tmp_path: Path) -> None:
    from edge_agent.evaluation.labels import LabelsError
    from models.evaluate import event_metrics

    with pytest.raises(ValueError, match="not found"):
        event_metrics(tmp_path / "missing.yaml")
    bad = tmp_path / "labels.yaml"
    bad.write_text("clips: 3\n")
    with pytest.raises(LabelsError):
        event_metrics(bad)
