from __future__ import annotations

import json

import pytest
from edge_testkit import shared_file

from cityops.cli import main


def test_detect_prints_classes_scores_and_pixel_boxes(capsys: pytest.CaptureFixture[str]) -> None:
    image = shared_file("media", "dog.jpg")
    shared_file("models", "yolox_nano.onnx")
    assert main(["edge", "detect", str(image), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "yolox_nano" and (result["width"], result["height"]) == (768, 576)
    classes = {d["class"] for d in result["detections"]}
    assert {"dog", "bicycle", "car"} <= classes
    assert all(len(d["box"]) == 4 and 0 <= d["score"] <= 1 for d in result["detections"])

    assert main(["edge", "detect", str(image)]) == 0
    text = capsys.readouterr().out
    assert "model yolox_nano" in text and "dog" in text


def test_detect_errors_are_clear(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["edge", "detect", str(tmp_path / "none.jpg")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.jpg"
    junk.write_text("not a picture")
    assert main(["edge", "detect", str(junk)]) == 2
    assert "neither a readable image nor a readable video" in capsys.readouterr().err
    image = shared_file("media", "dog.jpg")
    assert main(["edge", "detect", str(image), "--model", "nope"]) == 2
    assert "not in the model manifest" in capsys.readouterr().err


def test_run_with_a_bad_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text("device_id: edge-1\nmqtt_url: mqtt://h\n")
    assert main(["edge", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: hub_url: Field required" in err
