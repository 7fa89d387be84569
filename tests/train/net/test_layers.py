"""The 2012 paper's LRN against its formula and torch's own layer, in fp32 under bf16 autocast, deterministic."""
import torch
from torch import nn

from alexlib.train.net.layers import LocalResponseNorm


def test_lrn_matches_the_2012_paper_formula():
    # b = a / (k + alpha * sum_{j within n/2 channels} a_j^2)^beta with n=5, alpha=1e-4, beta=0.75, k=2
    x = torch.randn(2, 12, 4, 4) * 10
    sq = x.pow(2)
    win = torch.stack([sq[:, max(0, c - 2):c + 3].sum(1) for c in range(12)], dim=1)
    ref = x / (2 + 1e-4 * win).pow(0.75)
    torch.testing.assert_close(LocalResponseNorm()(x), ref, rtol=1e-5, atol=1e-5)


def test_lrn_equals_torchs_layer_forward_and_backward():
    x = (torch.randn(3, 16, 6, 6) * 20).requires_grad_()
    ours, theirs = LocalResponseNorm(), nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # torch: alpha/n
    a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(a)
    (ga,), (gb,) = torch.autograd.grad(a, x, g), torch.autograd.grad(b, x, g)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5)


def test_lrn_computes_in_fp32_under_bf16_autocast():
    x = (torch.rand(2, 16, 5, 5) * 30).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = LocalResponseNorm()(x)
    ref = LocalResponseNorm()(x.float())   # the formula in fp32 on the same bf16 inputs
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, ref.to(torch.bfloat16))  # only the result is rounded, once


def test_lrn_runs_under_deterministic_algorithms():
    torch.use_deterministic_algorithms(True)
    try:
        x = torch.randn(2, 8, 4, 4, requires_grad=True)
        LocalResponseNorm()(x).sum().backward()
    finally:
        torch.use_deterministic_algorithms(False)
    assert torch.isfinite(x.grad).all()
