#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *hello_add(PyObject *self, PyObject *args)
{
    long long a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "LL:add", &a, &b))
        return NULL;
    return PyLong_FromLongLong(a + b);
}

static PyMethodDef hello_methods[] = {
    {"add", hello_add, METH_VARARGS, "add(a, b) -> a + b (computed in C)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hello_module = {
    PyModuleDef_HEAD_INIT, "_hello", "Tiny C extension example.", -1, hello_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hello(void)
{
    return PyModule_Create(&hello_module);
}
