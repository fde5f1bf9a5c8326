// The Python binding: host functions of the .cu units, callable without a GPU.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kernels.h"

PYBIND11_MODULE(_core, m)
{
    m.doc() = "CUDA extension example built through CMake's CUDA language";
    m.def("add", &hello_add, "a + b: on the GPU if there is one, else on the host");
    m.def("scale", &hello_scale, "a * factor: on the GPU if there is one, else on the host");
    m.def("sort", &hello_sort, "The values in ascending order: on the GPU if there is one");
    m.def("build_version", &hello_build_version, "CUDA version compiled against (11080 for 11.8)");
    m.def("device_count", &hello_device_count, "Number of CUDA devices, 0 without GPU or driver");
}
