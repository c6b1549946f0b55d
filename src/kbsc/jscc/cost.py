"""Size and compute of a JSCC model: parameter count and FLOPs per image (``torch.utils.flop_counter``)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from kbsc.jscc.base import JSCCModel

__all__ = ["model_cost"]


@torch.no_grad()
def model_cost(model: JSCCModel, k: int, image_size: int = 32) -> dict[str, Any]:
    """``{"params", "encoder_flops", "decoder_flops"}`` for one image at ``k`` channel uses.

    FLOPs as counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions, 2
    FLOPs per multiply-add; element-wise operations are not counted).
    """
    model = model.eval()
    x = torch.rand(1, 3, image_size, image_size)
    snr = torch.zeros(1)
    with FlopCounterMode(display=False) as enc:
        y = model.encode(x, snr, k)
    with FlopCounterMode(display=False) as dec:
        model.decode(y, torch.full((1, k), 0.1), snr, k)
    return {
        "params": int(sum(p.numel() for p in model.parameters())),
        "encoder_flops": int(enc.get_total_flops()),
        "decoder_flops": int(dec.get_total_flops()),
    }
