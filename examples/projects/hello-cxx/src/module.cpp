// The Python module: hello_cxx.checksum(n) adds up what the eleven units compute for n.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "common.h"

static PyObject *checksum(PyObject *, PyObject *args)
{
    long long n;
    if (!PyArg_ParseTuple(args, "L", &n)) return nullptr;
    using namespace hello_cxx;
    std::int64_t sum = unit00(n) + unit01(n) + unit02(n) + unit03(n) + unit04(n) + unit05(n) +
                       unit06(n) + unit07(n) + unit08(n) + unit09(n) + unit10(n);
    return PyLong_FromLongLong(sum);
}

static PyMethodDef methods[] = {
    {"checksum", checksum, METH_VARARGS, "Sum of what each unit computes for n."},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "hello_cxx", nullptr, -1, methods};

PyMODINIT_FUNC PyInit_hello_cxx(void) { return PyModule_Create(&module); }
