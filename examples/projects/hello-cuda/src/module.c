#define PY_SSIZE_T_CLEAN
#include <Python.h>

int hello_cuda_build_version(void);
int hello_cuda_runtime_version(void);
int hello_cuda_driver_version(void);
int hello_cuda_device_count(void);
long long hello_cuda_add(long long a, long long b);

static PyObject *py_build_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_cuda_build_version());
}

static PyObject *py_runtime_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_cuda_runtime_version());
}

static PyObject *py_driver_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_cuda_driver_version());
}

static PyObject *py_device_count(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_cuda_device_count());
}

static PyObject *py_add(PyObject *self, PyObject *args)
{
    long long a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "LL:add", &a, &b))
        return NULL;
    return PyLong_FromLongLong(hello_cuda_add(a, b));
}

static PyMethodDef methods[] = {
    {"build_version", py_build_version, METH_NOARGS, "CUDA version compiled against (e.g. 11080)."},
    {"runtime_version", py_runtime_version, METH_NOARGS, "Loaded libcudart version, 0 without a driver."},
    {"driver_version", py_driver_version, METH_NOARGS, "CUDA driver version, 0 without a driver."},
    {"device_count", py_device_count, METH_NOARGS, "Number of CUDA devices, 0 without GPU."},
    {"add", py_add, METH_VARARGS, "add(a, b): on the GPU if there is one, else on the host."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hello_cuda._hello_cuda", "Tiny CUDA extension example.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hello_cuda(void)
{
    return PyModule_Create(&module);
}
