"""PyTorch C++/CUDA extension example (in the manner of pytorch/extension-cpp).

csrc/mul_add.cpp (schema, CPU kernel) is compiled by the C++ compiler and
csrc/mul_add_cuda.cu (CUDA kernel) by nvcc, through torch.utils.cpp_extension's
CUDAExtension/BuildExtension. There is deliberately no torch.cuda.is_available()
gate: the CUDA sources are always compiled, GPU or not.

Build with `pip wheel --no-deps --no-build-isolation .` in an environment that
has torch==2.0.1 (its CUDA 11.7 build) and a CUDA 11.x nvcc. Environment:
  TORCH_CUDA_ARCH_LIST  GPU architectures, e.g. "8.0" or "8.0;8.6+PTX"; required
                        without a GPU (there is nothing to detect)
  CC, CXX               host compiler; CUDA 11.8's nvcc accepts gcc <= 11, so
                        CC=gcc-11 CXX=g++-11 on Debian bookworm (torch passes CC
                        to nvcc as -ccbin)
  TORCH_EXT_DEBUG=1     -O0 -g for C++, -O0 -g -lineinfo for nvcc
"""
import os
import sys

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
    import torch

    if not torch.cuda.is_available():
        sys.exit("torch-ext: set TORCH_CUDA_ARCH_LIST (e.g. \"8.0\"): there is no GPU to detect the architecture from")

DEBUG = os.environ.get("TORCH_EXT_DEBUG", "0") == "1"


class ReproducibleBuildExtension(BuildExtension):
    """BuildExtension, with nvcc's intermediate files named after their source.

    nvcc names its intermediates tmpxft_<pid>_<n>-<step>_<source>..., and the
    host object is compiled from one of them: gcc puts that name in the
    object's STT_FILE symbol, in the name of its static-initializer function
    (_GLOBAL__sub_I_tmpxft_..., which every .cu file including torch's headers
    has) and, with -g, in the debug info. So the wheel's bytes would depend on
    nvcc's process id. With --keep --keep-dir, nvcc names them <source>.cudafe1.cpp
    etc. instead, in a directory of the build tree (at a fixed path in
    wheelbuild), where a debugger can also find them.
    """

    def build_extensions(self):
        for ext in self.extensions:
            cu = [os.path.basename(s) for s in ext.sources if s.endswith(".cu")]
            if len(cu) != len(set(cu)):
                sys.exit(f"torch-ext: .cu sources of {ext.name} share a file name: their kept nvcc files would collide")
            # Absolute: with ninja, nvcc runs in another directory.
            keep_dir = os.path.abspath(os.path.join(self.build_temp, "nvcc", ext.name))
            os.makedirs(keep_dir, exist_ok=True)
            ext.extra_compile_args["nvcc"] = ext.extra_compile_args["nvcc"] + ["--keep", "--keep-dir", keep_dir]
        super().build_extensions()


setup(
    name="torch-ext",
    version="0.1.0",
    description="PyTorch C++/CUDA extension example project for wheelbuild",
    long_description=open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=["torch_ext"],
    python_requires=">=3.8",
    install_requires=["torch==2.0.1"],
    ext_modules=[
        CUDAExtension(
            "torch_ext._C",
            sources=["csrc/mul_add.cpp", "csrc/mul_add_cuda.cu"],
            extra_compile_args={
                "cxx": ["-O0", "-g"] if DEBUG else ["-O3"],
                # -g: host-side debug info; -lineinfo: source lines for the kernels (profilers)
                "nvcc": ["-O0", "-g", "-lineinfo"] if DEBUG else ["-O3"],
            },
        ),
    ],
    cmdclass={"build_ext": ReproducibleBuildExtension},
)
