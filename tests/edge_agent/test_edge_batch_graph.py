"""Batch-capable models: the in-memory rewrite of fixed-batch-1 exports, checked against single-frame runs.

Real models from ../shared/models, plus tiny graphs built with onnx.helper for the cases the real ones lack.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from edge_testkit import MODELS_DIR, shared_file
from onnx import TensorProto, helper, numpy_helper

from edge_agent.config import InferenceConfig
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.batch_graph import BATCH_DIM, NotBatchable, batch_graph
from edge_agent.detectors.batcher import InferenceBatcher, batch_capable, compare_batched, serving_detector
from edge_agent.models.manifest import ModelStore, file_sha256, load_manifest

REAL_FRAMES = ["dog.jpg", "mmdet_demo.jpg", "coco_val2017_000000001000.jpg"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    shared_file("models", "yolox_nano.onnx")
    return ModelStore(load_manifest(), MODELS_DIR, tmp_path_factory.mktemp("cache") / "hashes.json")


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("model", "rewritten"), [("yolox_nano", 3), ("nanodet", 42)])
def test_rewritten_model_gives_every_frame_of_a_batch_its_single_run_outputs(
    store: ModelStore, model: str, rewritten: int
) -> None:
    spec, path = store.resolve(model)
    detector = create_detector(spec, path, DetectorOptions())
    graph = batch_graph(path, detector.input_name)
    # YOLOX: three Reshape [1, 85, -1]; NanoDet: 38 Reshapes (channel shuffles, heads) and 4 Resize `sizes`.
    assert graph.model is not None and graph.rewritten == rewritten
    assert onnx.load_from_string(graph.model).graph.input[0].type.tensor_type.shape.dim[0].dim_param == BATCH_DIM

    batched = batch_capable(detector)
    assert batched is not None and batched.session is not detector.session
    blobs = [detector.prepare(cv2.imread(str(shared_file("media", f)))).blob for f in REAL_FRAMES]
    together = batched.run(np.concatenate(blobs))
    for i, blob in enumerate(blobs):
        alone = detector.session.run(None, {detector.input_name: blob})  # the file's own batch-1 graph
        for k, out in enumerate(together):
            np.testing.assert_allclose(out[i : i + 1], alone[k], rtol=1e-5, atol=1e-5)
    assert file_sha256(path) == spec.sha256  # the rewrite lives in memory only


def test_yolov8_int8_stays_at_batch_1_because_its_quantisation_couples_the_frames(
    store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Dynamic int8 quantises each activation with one scale for the whole tensor, batch included: two frames in one
    batch change each other's results (a batch of one frame repeated hides that), so no rewrite can help."""
    spec, path = store.resolve("yolov8n_int8")
    with pytest.raises(NotBatchable, match="DynamicQuantizeLinear"):
        batch_graph(path, "images")
    detector = create_detector(spec, path, DetectorOptions())
    with caplog.at_level(logging.WARNING, logger="edge_agent.detectors.batcher"):
        served = [serving_detector(detector, InferenceConfig(), cameras=n) for n in (4, 8)]
    try:
        for batcher in served:  # single frames, on two concurrent inference threads
            assert isinstance(batcher, InferenceBatcher) and batcher.detector is not detector
            image = cv2.imread(str(shared_file("media", "dog.jpg")))
            assert np.array_equal(batcher.detect(image).xyxy, detector.detect(image).xyxy)
            assert batcher.batch_sizes() == {1: 1}
    finally:
        for batcher in served:
            batcher.close()
    reasons = [r.getMessage() for r in caplog.records if "stays at batch 1" in r.getMessage()]
    assert len(reasons) == 1 and "yolov8n_int8" in reasons[0]  # logged once per loaded model
    assert serving_detector(detector, InferenceConfig(max_batch=1), cameras=4) is detector  # batching off


def test_nanodet_int8_falls_back_where_shape_inference_cannot_follow_its_contrib_ops(
    store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Its QLinear* operators of the com.microsoft domain are opaque to onnx.shape_inference, so the batch-carrying
    shape constants behind them are not found: the batch check fails and the model serves one frame at a time."""
    shared_file("models", "object_detection_nanodet_2022nov_int8.onnx")
    spec, path = store.resolve("nanodet_int8")
    detector = create_detector(spec, path, DetectorOptions())
    with caplog.at_level(logging.WARNING, logger="edge_agent.detectors.batcher"):
        served = serving_detector(detector, InferenceConfig(), cameras=3)
    served.close()
    assert isinstance(served, InferenceBatcher) and served.batch_sizes() == {}
    assert any("nanodet_int8 stays at batch 1: a batch of 2 does not run" in r.getMessage() for r in caplog.records)
    assert len(detector.detect(cv2.imread(str(shared_file("media", "dog.jpg"))))) > 0  # and still works, batch 1


# -- tiny graphs ---------------------------------------------------------------------------------------------


def _model(nodes: list, inputs: list, outputs: list, initializers: list | None = None, opset: int = 13) -> bytes:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _write(tmp_path, data: bytes):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(data)
    return path


def _const(name: str, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _blobs(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Two inputs of different content and range, batch dimension 1."""
    rng = np.random.default_rng(1)
    return [rng.uniform(0, 255, shape).astype(np.float32), rng.uniform(-1, 1, shape).astype(np.float32)]


def test_tiny_fixed_batch_graph_is_rewritten_activation_constants_only(tmp_path) -> None:
    """x (1, 2, 4) * scale reshaped to [1, -1, 1] (a broadcast constant, not the batch) -> Reshape [1, -1] ->
    Resize to sizes [1, 16]: only the Reshape and the Resize of the activation change."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    nodes = [
        helper.make_node("Reshape", ["scale", "scale_shape"], ["scale_b"]),
        helper.make_node("Mul", ["x", "scale_b"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "flat_shape"], ["flat"]),
        helper.make_node("Resize", ["flat", "", "", "sizes"], ["y"], mode="nearest"),
    ]
    inits = [
        _const("scale", [2.0, 3.0], np.float32),
        _const("scale_shape", [1, -1, 1]),
        _const("flat_shape", [1, -1]),
        _const("sizes", [1, 16]),
    ]
    path = _write(tmp_path, _model(nodes, [x], [y], inits))
    graph = batch_graph(path, "x")
    assert graph.rewritten == 2 and graph.model is not None
    rewritten = onnx.load_from_string(graph.model)
    constants = {t.name: numpy_helper.to_array(t).tolist() for t in rewritten.graph.initializer}
    assert constants["scale_shape"] == [1, -1, 1]  # untouched: the scale does not flow from the image
    assert constants["flat_shape__batch"] == [0, -1]
    assert constants["sizes__scales"] == [1.0, 2.0]
    single, batched = _session(path.read_bytes()), _session(graph.model)
    assert compare_batched(single, batched, "x", _blobs((1, 2, 4))) is None


def test_tiny_graph_whose_reshape_drops_the_batch_cannot_batch(tmp_path) -> None:
    """Reshape (1, 3, 4) -> [3, 4] folds batch 1 away; no constant carries it, so the rewrite cannot fix it and the
    batch check says so (a detector on such a model stays at batch 1)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    path = _write(tmp_path, _model(nodes, [x], [y], [_const("shape", [3, 4])]))
    graph = batch_graph(path, "x")
    assert graph.rewritten == 0 and graph.model is not None
    problem = compare_batched(_session(path.read_bytes()), _session(graph.model), "x", _blobs((1, 3, 4)))
    assert problem is not None and problem.startswith("a batch of 2 does not run")


def test_tiny_dynamic_graph_is_used_as_is_and_checked(tmp_path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    path = _write(tmp_path, _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))
    graph = batch_graph(path, "x")
    assert graph.model is None and graph.rewritten == 0  # the file batches as it is
    session = _session(path.read_bytes())
    assert compare_batched(session, session, "x", _blobs((1, 3))) is None


def test_tiny_dynamic_graph_that_mixes_the_frames_of_a_batch_fails_the_check(tmp_path) -> None:
    """x - mean over the batch: runs at any batch size, but one frame's result depends on the others."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[0], keepdims=1),
        helper.make_node("Sub", ["x", "mean"], ["y"]),
    ]
    session = _session(_model(nodes, [x], [y]))
    problem = compare_batched(session, session, "x", _blobs((1, 3)))
    assert problem is not None and "a batch changes output 0 of frame 0" in problem


def test_tiny_graphs_that_cannot_batch_at_all_are_refused_with_the_reason(tmp_path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "q_scale", "q_zero"]),
        helper.make_node("DequantizeLinear", ["q", "q_scale", "q_zero"], ["y"]),
    ]
    with pytest.raises(NotBatchable, match="frames of one batch would change each other's results"):
        batch_graph(_write(tmp_path, _model(nodes, [x], [y])), "x")
    two = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    relu = _model([helper.make_node("Relu", ["x"], ["y"])], [two], [y])
    with pytest.raises(NotBatchable, match="fixed batch of 2"):
        batch_graph(_write(tmp_path, relu), "x")
    with pytest.raises(NotBatchable, match="no graph input 'images'"):
        batch_graph(_write(tmp_path, relu), "images")
    with pytest.raises(NotBatchable, match="cannot be read"):
        batch_graph(_write(tmp_path, b"not a model"), "x")
