// The op's CUDA kernel. Compiled by nvcc whether or not the build machine has
// a GPU; it only runs when mul_add is called with CUDA tensors.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime.h>
#include <torch/library.h>

#include "mul_add.h"

namespace torch_ext {

template <typename scalar_t>
__global__ void mul_add_kernel(int64_t n, const scalar_t *__restrict__ a, const scalar_t *__restrict__ b,
                               scalar_t c, scalar_t *__restrict__ out)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n)
        out[i] = a[i] * b[i] + c;
}

at::Tensor mul_add_cuda(const at::Tensor &a, const at::Tensor &b, double c)
{
    TORCH_CHECK(a.sizes() == b.sizes(), "mul_add: a and b must have the same shape");
    TORCH_CHECK(a.scalar_type() == b.scalar_type(), "mul_add: a and b must have the same dtype");
    TORCH_CHECK(a.device() == b.device(), "mul_add: a and b must be on the same device");
    TORCH_INTERNAL_ASSERT(a.device().type() == at::DeviceType::CUDA);
    const c10::cuda::CUDAGuard guard(a.device());
    at::Tensor a_c = a.contiguous();
    at::Tensor b_c = b.contiguous();
    at::Tensor out = at::empty_like(a_c);
    const int64_t n = out.numel();
    if (n == 0)
        return out;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "mul_add_cuda", [&] {
        mul_add_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
            n, a_c.data_ptr<scalar_t>(), b_c.data_ptr<scalar_t>(), static_cast<scalar_t>(c),
            out.data_ptr<scalar_t>());
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}

int64_t cuda_build_version()
{
    return CUDART_VERSION;
}

} // namespace torch_ext

TORCH_LIBRARY_IMPL(torch_ext, CUDA, m)
{
    m.impl("mul_add", &torch_ext::mul_add_cuda);
}
