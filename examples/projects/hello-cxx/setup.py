# The C++ compiler is sysconfig's (g++ through CXX's default); each unit is its own object.
from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hello_cxx",
            sources=sorted(glob("src/*.cpp")),
            language="c++",
            extra_compile_args=["-std=c++17", "-O2"],
        ),
    ],
)
