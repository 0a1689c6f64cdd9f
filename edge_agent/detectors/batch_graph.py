"""Give a fixed-batch-1 ONNX detector a symbolic batch dimension, in memory (the model file is never written).

Exports with a fixed batch of 1 also bake that 1 into shape constants: a `Reshape` to `[1, 85, -1]`, a `Resize` to
`sizes=[1, 96, 26, 26]`. `onnx.shape_inference` says which of them act on activations that carry the batch (their
data input flows from the image input and has dim 0 == 1, rank >= 2), as opposed to, say, a quantisation scale
reshaped to `[1, -1, 1, 1]` for broadcasting. Those become batch-agnostic: the Reshape's leading 1 turns into 0
(ONNX: "copy the input's dim", allowzero=0), the Resize's `sizes` into the equivalent `scales`.

A rewrite that runs is not yet a correct one: the caller must compare a batch against single runs
(edge_agent/detectors/batcher.py does) before using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

BATCH_DIM = "batch"
# Ops that compute statistics over the whole tensor, batch included: with them one frame's result depends on the
# other frames of its batch, which no shape rewrite can fix (and which two check images may not expose).
BATCH_COUPLING_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"})


class NotBatchable(Exception):
    """The model cannot run batches of frames; the message says why, for the log."""


@dataclass(frozen=True, slots=True)
class BatchGraph:
    """`model`: the serialized batch-capable model, or None when the file's own batch dimension is already
    symbolic (use the file as is); `rewritten`: how many shape constants were changed."""

    model: bytes | None
    rewritten: int


def batch_graph(path: Path, input_name: str) -> BatchGraph:
    """A batch-capable version of the model at `path` whose image input is `input_name`; NotBatchable if none."""
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a protobuf decode error has no common base class worth naming
        raise NotBatchable(f"cannot be read by the onnx package: {exc}") from exc
    graph = model.graph
    coupling = sorted({n.op_type for n in graph.node} & BATCH_COUPLING_OPS)
    if coupling:
        raise NotBatchable(
            f"it quantises activations per tensor at run time ({', '.join(coupling)}): the frames of one batch "
            "would change each other's results"
        )
    initializers = {t.name for t in graph.initializer}
    image = next((i for i in graph.input if i.name == input_name and i.name not in initializers), None)
    if image is None:
        raise NotBatchable(f"has no graph input {input_name!r}")
    dims = image.type.tensor_type.shape.dim
    if not dims:
        raise NotBatchable(f"input {input_name!r} has no declared shape")
    if not dims[0].HasField("dim_value"):
        return BatchGraph(model=None, rewritten=0)  # already symbolic or unknown: the file batches as it is
    if dims[0].dim_value != 1:
        raise NotBatchable(f"input {input_name!r} has a fixed batch of {dims[0].dim_value}")
    rewritten = _free_batch_constants(model, input_name)
    for value in [image, *graph.output]:
        out_dims = value.type.tensor_type.shape.dim
        if out_dims and out_dims[0].dim_value == 1:
            out_dims[0].dim_param = BATCH_DIM
    # Stored intermediate shapes still say batch 1; ONNX Runtime would check frames against them.
    del graph.value_info[:]
    return BatchGraph(model=model.SerializeToString(), rewritten=rewritten)


def _free_batch_constants(model: onnx.ModelProto, input_name: str) -> int:
    """Rewrite the Reshape/Resize shape constants that carry batch 1 of an activation; returns how many."""
    graph = model.graph
    shapes = _inferred_shapes(model)
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    from_image = {input_name}
    rewritten = 0
    for node in graph.node:  # ONNX keeps nodes in topological order
        if not any(i in from_image for i in node.input):
            continue
        from_image.update(node.output)
        if node.input[0] not in from_image:
            continue
        data = shapes.get(node.input[0])
        if data is None or len(data) < 2 or data[0] != 1:
            continue
        if node.op_type == "Reshape" and not _attribute(node, "allowzero", 0):
            target = constants.get(node.input[1])
            if target is not None and target.ndim == 1 and target.size and target[0] == 1:
                node.input[1] = _add_constant(
                    model, node.input[1], np.concatenate([[0], target[1:]]).astype(target.dtype)
                )
                rewritten += 1
        elif node.op_type == "Resize" and len(node.input) == 4 and None not in data:
            sizes = constants.get(node.input[3])
            if sizes is not None and sizes.ndim == 1 and len(sizes) == len(data) and sizes[0] == 1:
                scales = (sizes / np.asarray(data, dtype=np.float64)).astype(np.float32)
                # Only where floor(in * scale) lands on the same sizes; the batch check verifies the pixels.
                if np.array_equal(np.floor(np.asarray(data) * scales.astype(np.float64)), sizes):
                    node.input[2] = _add_constant(model, node.input[3], scales, suffix="scales")
                    del node.input[3]
                    rewritten += 1
    return rewritten


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Tensor name -> inferred dims (None where unknown); tensors of unknown rank are left out."""
    inferred = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int | None]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return shapes


def _attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _add_constant(model: onnx.ModelProto, base: str, value: np.ndarray, suffix: str = "batch") -> str:
    """An initializer beside `base` (which other nodes may still use unchanged) holding `value`; returns its name.

    Nodes that shared `base` share the new constant too when their rewritten value is the same.
    """
    graph = model.graph
    existing = {t.name: t for t in graph.initializer}
    name, n = f"{base}__{suffix}", 1
    while name in existing:
        if np.array_equal(numpy_helper.to_array(existing[name]), value):
            return name
        n += 1
        name = f"{base}__{suffix}{n}"
    tensor = numpy_helper.from_array(value, name)
    graph.initializer.append(tensor)
    if model.ir_version < 4:  # before IR 4 every initializer must also be listed as a graph input
        graph.input.append(onnx.helper.make_tensor_value_info(name, tensor.data_type, value.shape))
    return name
