#pragma once

#include <ATen/ATen.h>

namespace torch_ext {

// out = a * b + c, elementwise; a and b have the same shape, dtype and device.
at::Tensor mul_add_cpu(const at::Tensor &a, const at::Tensor &b, double c);
at::Tensor mul_add_cuda(const at::Tensor &a, const at::Tensor &b, double c);

// CUDART_VERSION the .cu file was compiled against (11080 for CUDA 11.8).
int64_t cuda_build_version();

} // namespace torch_ext
