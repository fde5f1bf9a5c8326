"""CUDA extension example: .cu sources are compiled by nvcc, the rest by the
normal C compiler (which honours CC), and the result is linked with libcudart.

nvcc names its intermediate files tmpxft_<pid>_..., and that name ends up as
the object's STT_FILE symbol, so two otherwise identical builds differ by the
PID of nvcc. _drop_tmpxft_symbols() removes that symbol to keep the wheel
byte-for-byte reproducible (with SOURCE_DATE_EPOCH set).

Environment knobs:
  NVCC        nvcc executable (default: "nvcc" on PATH)
  NVCC_FLAGS  extra nvcc flags, e.g. "-gencode arch=compute_80,code=sm_80"
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _drop_tmpxft_symbols(obj):
    try:
        out = subprocess.run(["readelf", "-sW", obj], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return
    names = [f[7] for f in (line.split() for line in out.splitlines())
             if len(f) >= 8 and f[3] == "FILE" and f[7].startswith("tmpxft_")]
    if names:
        subprocess.check_call(["objcopy"] + ["--strip-symbol=" + n for n in names] + [obj])


class CudaBuildExt(build_ext):
    def build_extension(self, ext):
        cu_sources = [s for s in ext.sources if s.endswith(".cu")]
        ext.sources = [s for s in ext.sources if not s.endswith(".cu")]
        nvcc = shlex.split(os.environ.get("NVCC", "nvcc"))
        extra = shlex.split(os.environ.get("NVCC_FLAGS", ""))
        objects = []
        for src in cu_sources:
            obj = os.path.join(self.build_temp, os.path.splitext(src)[0] + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            cmd = nvcc + ["-c", src, "-o", obj, "-O2", "-Xcompiler", "-fPIC"] + extra
            print(" ".join(shlex.quote(c) for c in cmd), flush=True)
            subprocess.check_call(cmd)
            _drop_tmpxft_symbols(obj)
            objects.append(obj)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


setup(
    ext_modules=[
        Extension(
            "hello_cuda._hello_cuda",
            sources=["src/kernels.cu", "src/module.c"],
            libraries=["cudart"],
            # Debian's nvidia-cuda-toolkit puts libcudart.so in the default
            # multiarch dir; NVIDIA's installer uses /usr/local/cuda/lib64.
            library_dirs=[d for d in ("/usr/local/cuda/lib64",) if os.path.isdir(d)],
        ),
    ],
    cmdclass={"build_ext": CudaBuildExt},
)
