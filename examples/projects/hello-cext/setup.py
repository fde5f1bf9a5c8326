# The C compiler comes from sysconfig unless CC is set in the environment,
# so `CC="ccache gcc" pip wheel ...` works without anything special here.
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("hello_cext", sources=["src/hello_cext.c"]),
    ],
)
