"""Tiny ONNX files with the inputs and outputs of rembg's model families, for tests.

Each is one 1×1 convolution and a sigmoid (the real U²-Net and ISNet end in a sigmoid too) that
maps brightness to "subject": bright pixels are the subject, dark ones the background. A ``flat``
model has zero weights, so its prediction is the same everywhere: it finds nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (input name, input size, number of side outputs) as in rembg's published files.
FAMILIES = {
    "u2net": ("input.1", 320, 7),  # U²-Net, U²-Netp, silueta, u2net_human_seg
    "isnet": ("input_image", 1024, 6),  # ISNet (isnet-general-use, isnet-anime)
}


def write_model(path: Path, family: str = "u2net", flat: bool = False) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    input_name, size, outputs = FAMILIES[family]
    weight = np.zeros((1, 3, 1, 1), np.float32) if flat else np.full((1, 3, 1, 1), 2.0, np.float32)
    nodes = [helper.make_node("Conv", [input_name, "w"], ["logits"]), helper.make_node("Sigmoid", ["logits"], ["d0"])]
    nodes += [helper.make_node("Identity", ["d0"], [f"d{i}"]) for i in range(1, outputs)]
    graph = helper.make_graph(
        nodes, f"tiny_{family}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, size, size]) for i in range(outputs)],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def square_image(height: int = 48, width: int = 64) -> np.ndarray:
    """A white square on black, uint8 ``H×W×3``: the square is the subject."""
    image = np.zeros((height, width, 3), np.uint8)
    image[height // 4 : 3 * height // 4, width // 4 : width // 2] = 255
    return image
