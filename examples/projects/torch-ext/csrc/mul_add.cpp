// The op's schema, its CPU kernel, and the Python module stub.
//
// The op is registered with the dispatcher (TORCH_LIBRARY), not bound with
// pybind11: importing torch_ext._C registers torch.ops.torch_ext.mul_add, and
// the dispatcher calls mul_add_cpu for CPU tensors and mul_add_cuda (in
// mul_add_cuda.cu) for CUDA tensors.
#include <Python.h>

#include <torch/library.h>

#include "mul_add.h"

namespace torch_ext {

static void check_inputs(const at::Tensor &a, const at::Tensor &b)
{
    TORCH_CHECK(a.sizes() == b.sizes(), "mul_add: a and b must have the same shape, got ", a.sizes(), " and ",
                b.sizes());
    TORCH_CHECK(a.scalar_type() == b.scalar_type(), "mul_add: a and b must have the same dtype, got ",
                a.scalar_type(), " and ", b.scalar_type());
    TORCH_CHECK(a.device() == b.device(), "mul_add: a and b must be on the same device, got ", a.device(), " and ",
                b.device());
}

at::Tensor mul_add_cpu(const at::Tensor &a, const at::Tensor &b, double c)
{
    check_inputs(a, b);
    TORCH_INTERNAL_ASSERT(a.device().type() == at::DeviceType::CPU);
    at::Tensor a_c = a.contiguous();
    at::Tensor b_c = b.contiguous();
    at::Tensor out = at::empty_like(a_c);
    const int64_t n = out.numel();
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "mul_add_cpu", [&] {
        const scalar_t *pa = a_c.data_ptr<scalar_t>();
        const scalar_t *pb = b_c.data_ptr<scalar_t>();
        scalar_t *po = out.data_ptr<scalar_t>();
        const scalar_t sc = static_cast<scalar_t>(c);
        for (int64_t i = 0; i < n; i++)
            po[i] = pa[i] * pb[i] + sc;
    });
    return out;
}

} // namespace torch_ext

TORCH_LIBRARY(torch_ext, m)
{
    m.def("mul_add(Tensor a, Tensor b, float c) -> Tensor");
    // No tensor argument to dispatch on: a catch-all kernel.
    m.def("cuda_build_version() -> int", &torch_ext::cuda_build_version);
}

TORCH_LIBRARY_IMPL(torch_ext, CPU, m)
{
    m.impl("mul_add", &torch_ext::mul_add_cpu);
}

// `import torch_ext._C` only has to load the library (which runs the
// registrations above): an empty module, no pybind11.
extern "C" PyObject *PyInit__C(void)
{
    static struct PyModuleDef module_def = {
        PyModuleDef_HEAD_INIT, "_C", "torch_ext's compiled ops (see torch.ops.torch_ext)", -1, NULL,
        NULL, NULL, NULL, NULL,
    };
    return PyModule_Create(&module_def);
}
