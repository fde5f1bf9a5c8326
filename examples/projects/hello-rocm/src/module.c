#define PY_SSIZE_T_CLEAN
#include <Python.h>

int hello_rocm_build_version(void);
int hello_rocm_runtime_version(void);
int hello_rocm_driver_version(void);
int hello_rocm_device_count(void);
const char *hello_rocm_device_status(void);
long long hello_rocm_add(long long a, long long b);

static PyObject *py_build_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_rocm_build_version());
}

static PyObject *py_runtime_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_rocm_runtime_version());
}

static PyObject *py_driver_version(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_rocm_driver_version());
}

static PyObject *py_device_count(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromLong(hello_rocm_device_count());
}

static PyObject *py_device_status(PyObject *self, PyObject *unused)
{
    const char *s;
    (void)self; (void)unused;
    s = hello_rocm_device_status();
    return PyUnicode_FromString(s ? s : "unknown");
}

static PyObject *py_add(PyObject *self, PyObject *args)
{
    long long a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "LL:add", &a, &b))
        return NULL;
    return PyLong_FromLongLong(hello_rocm_add(a, b));
}

static PyMethodDef methods[] = {
    {"build_version", py_build_version, METH_NOARGS, "HIP_VERSION compiled against (e.g. 50221153)."},
    {"runtime_version", py_runtime_version, METH_NOARGS, "Loaded libamdhip64 version, 0 if unknown."},
    {"driver_version", py_driver_version, METH_NOARGS, "HIP driver version, 0 if unknown."},
    {"device_count", py_device_count, METH_NOARGS, "Number of HIP devices, 0 without an AMD GPU."},
    {"device_status", py_device_status, METH_NOARGS, "hipGetDeviceCount()'s hipError_t name."},
    {"add", py_add, METH_VARARGS, "add(a, b): on the GPU if there is one, else on the host."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hello_rocm._hello_rocm", "Tiny ROCm/HIP extension example.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hello_rocm(void)
{
    return PyModule_Create(&module);
}
