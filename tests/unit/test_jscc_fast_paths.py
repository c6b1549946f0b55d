"""The speed-ups of the JSCC models compute what the plain formulation computes (issue 12, item 4)."""

from __future__ import annotations

import pytest
import torch

from kbsc.jscc.deepjscc import DeepJSCC
from kbsc.jscc.swin import WindowAttention, shift_mask, window_partition


def _reference_attention(m: WindowAttention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Window attention written out: q/k/v by indexing, bias and mask added to the logits."""
    bw, n, c = x.shape
    qkv = m.qkv(x).reshape(bw, n, 3, m.heads, c // m.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    logits = (q * m.scale) @ k.transpose(-2, -1)
    logits = logits + m.bias_table[m.bias_index.reshape(-1)].reshape(n, n, m.heads).permute(2, 0, 1)
    if mask is not None:
        nw = mask.shape[0]
        logits = logits.reshape(bw // nw, nw, m.heads, n, n) + mask[None, :, None]
        logits = logits.reshape(bw, m.heads, n, n)
    return m.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c))


@pytest.mark.parametrize("shift", [0, 2])
def test_window_attention_values_and_gradients_are_the_written_out_ones(shift):
    torch.manual_seed(0)
    m = WindowAttention(32, 4, 2)
    torch.nn.init.normal_(m.bias_table, std=0.5)  # a bias that matters
    mask = shift_mask(8, 8, 4, shift) if shift else None
    x = window_partition(torch.randn(3, 8, 8, 32), 4).requires_grad_()
    outs, grads = [], []
    for fn in (lambda: m(x, mask), lambda: _reference_attention(m, x, mask)):
        m.zero_grad()
        x.grad = None
        y = fn()
        y.square().sum().backward()
        outs.append(y.detach())
        grads.append([x.grad.clone(), m.bias_table.grad.clone(), m.qkv.weight.grad.clone()])
    assert torch.equal(outs[0], outs[1])
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


def test_deepjscc_decoder_layout_changes_no_result():
    torch.manual_seed(0)
    m = DeepJSCC(k=96).eval()
    z = torch.randn(4, *m.latent_shape)
    with torch.no_grad():
        fast = m.synthesis(z, torch.zeros_like(z), torch.zeros(4), 96)
        x = z.reshape(4, -1, m.side, m.side)  # the decoder in the default (contiguous) layout
        for stage in m.dec:
            x = stage(x, m._side(torch.zeros(4), 4))
        plain = torch.sigmoid(m.dec_out(x))
    assert not plain.is_contiguous(memory_format=torch.channels_last)
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
