"""Make a TorchScript CLIP archive run in float32 on the CPU (or on a chosen device).

OpenAI's ``ViT-B-32.pt`` was traced on a GPU in half precision: its weights are float16 and its graphs hold
constant ``dtype=float16`` / ``device="cuda"`` arguments (e.g. the input cast in ``encode_image``).
After ``torch.jit.load(map_location="cpu")`` and ``.float()`` those constants must follow, or the first layer
sees a half input with float weights. This pass rewrites, in every method of every sub-module, the ``dtype``
arguments that are the constant float16 and the ``device`` arguments that are a constant CUDA device (to
the target device: the CPU, or the GPU kbsc runs on, which need not be the one it was traced on).
"""

from __future__ import annotations

import torch

_HALF = 5  # c10::ScalarType::Half
_FLOAT = 6  # c10::ScalarType::Float


def _constant_value(node: torch._C.Node) -> object:
    if node.kind() != "prim::Constant" or not node.hasAttribute("value"):
        return None
    kind = node.kindOf("value")
    return node.i("value") if kind == "i" else node.s("value") if kind == "s" else None


def _retarget(graph: torch._C.Graph, device: torch.device) -> int:
    changed = 0
    for node in list(graph.nodes()):
        for block in node.blocks():
            changed += _retarget_block(graph, block, device)
        changed += _retarget_node(graph, node, device)
    return changed


def _retarget_block(graph: torch._C.Graph, block: torch._C.Block, device: torch.device) -> int:
    changed = 0
    for node in list(block.nodes()):
        for inner in node.blocks():
            changed += _retarget_block(graph, inner, device)
        changed += _retarget_node(graph, node, device)
    return changed


def _retarget_node(graph: torch._C.Graph, node: torch._C.Node, device: torch.device) -> int:
    if node.kind() == "prim::Constant":
        return 0
    try:
        schema = torch._C.parse_schema(node.schema())
    except RuntimeError:
        return 0
    changed = 0
    for i, (arg, value) in enumerate(zip(schema.arguments, node.inputs(), strict=False)):
        const = _constant_value(value.node())
        if arg.name == "dtype" and const == _HALF:
            replacement: object = _FLOAT
        elif arg.name == "device" and isinstance(const, str) and const.startswith("cuda"):
            replacement = device
        else:
            continue
        with graph.insert_point_guard(node):
            new = graph.insertConstant(replacement)
        node.replaceInput(i, new)
        changed += 1
    return changed


def to_float_on(module: torch.jit.ScriptModule, device: torch.device | str = "cpu") -> int:
    """Move ``module`` to ``device`` in float32 and retarget its half/CUDA graph constants there; returns the
    count rewritten (mixed precision, when asked for, is autocast around the float32 model)."""
    device = torch.device(device)
    if any(p.device != device for p in module.parameters()):  # best loaded there (map_location) instead
        module.to(device)
    module.float()
    changed = 0
    for sub in module.modules():
        for name in sub._c._method_names():
            changed += _retarget(sub._c._get_method(name).graph, device)
    return changed


def to_float_cpu(module: torch.jit.ScriptModule) -> int:
    """:func:`to_float_on` the CPU."""
    return to_float_on(module, "cpu")
