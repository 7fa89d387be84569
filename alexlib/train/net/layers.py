"""Layers torch does not have as the study needs them: the 2012 paper's Local Response Normalization, in fp32 and
deterministic on CUDA. The registry (``alexlib.train.net.norms``) builds it where the paper puts it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalResponseNorm(nn.Module):
    """Krizhevsky et al. 2012, section 3.3: b_c = a_c / (k + alpha * sum of a_j^2 over the n channels
    around c)^beta, with the paper's n=5, k=2, alpha=1e-4, beta=0.75 (torch's LocalResponseNorm writes
    alpha/n, so its alpha would be 5e-4; the same function, tested against it).
    Computed in fp32 (under bf16 autocast the denominator would round in ~0.8 % steps) as a sum of
    shifted slices, which is deterministic on CUDA (torch's avg_pool3d backward is not)."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        c = x32.shape[1]
        sq = F.pad(x32.square(), (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2))  # pad channels: (B, C+n-1, H, W)
        window = sum(sq[:, i:i + c] for i in range(self.size))                           # (B, C, H, W)
        return (x32 / (self.k + self.alpha * window).pow(self.beta)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
