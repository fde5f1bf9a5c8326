#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = "Tiny C++ extension example.";
    m.def("add", [](long long a, long long b) { return a + b; }, "add(a, b) -> a + b (computed in C++)");
}
