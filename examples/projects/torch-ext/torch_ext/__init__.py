"""A small PyTorch C++/CUDA extension: torch_ext.mul_add(a, b, c) = a * b + c.

The compiled library registers ``torch.ops.torch_ext.mul_add``; the dispatcher
runs its CPU kernel for CPU tensors and its CUDA kernel for CUDA tensors.
Importing it needs ``torch`` (imported first, it loads libc10/libtorch) but no GPU.
"""

import torch

from . import _C  # noqa: F401  (loading the library registers the ops)

__version__ = "0.1.0"
__all__ = ["cuda_build_version", "mul_add"]


def mul_add(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """Elementwise ``a * b + c`` (float32/float64; a and b alike in shape, dtype, device)."""
    return torch.ops.torch_ext.mul_add.default(a, b, c)


def cuda_build_version() -> int:
    """CUDART_VERSION the CUDA kernel was compiled against (e.g. 11080)."""
    return torch.ops.torch_ext.cuda_build_version.default()
