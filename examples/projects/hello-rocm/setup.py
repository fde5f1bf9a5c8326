"""ROCm/HIP extension example: .hip sources are compiled by hipcc (host code
plus device code for --offload-arch, embedded in the object), the rest by the
normal C compiler (which honours CC), and the result is linked with
libamdhip64. Compiling needs no GPU.

Reproducibility: with SOURCE_DATE_EPOCH set the wheel is byte-for-byte the
same across builds in the same directory. hipcc gets no -g, so its object has
no build paths; -ffile-prefix-map / -fdebug-prefix-map / -fmacro-prefix-map
options in CFLAGS are passed on to hipcc too, so that the same CFLAGS that make
the C parts independent of the build directory do it for the .hip parts.

Environment knobs:
  HIPCC             hipcc executable (default: "hipcc" on PATH)
  HIP_OFFLOAD_ARCH  GPU targets, separated by "," ";" or spaces (default
                    "gfx90a"); each becomes --offload-arch=TARGET
  HIPCC_FLAGS       extra hipcc flags
"""
import os
import re
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PREFIX_MAP = re.compile(r"^-f(file|debug|macro)-prefix-map=")


def _offload_arch_flags():
    archs = [a for a in re.split(r"[,;\s]+", os.environ.get("HIP_OFFLOAD_ARCH", "gfx90a")) if a]
    return ["--offload-arch=" + a for a in archs]


class HipBuildExt(build_ext):
    def build_extension(self, ext):
        hip_sources = [s for s in ext.sources if s.endswith(".hip")]
        ext.sources = [s for s in ext.sources if not s.endswith(".hip")]
        hipcc = shlex.split(os.environ.get("HIPCC", "hipcc"))
        prefix_maps = [f for f in shlex.split(os.environ.get("CFLAGS", "")) if PREFIX_MAP.match(f)]
        extra = _offload_arch_flags() + prefix_maps + shlex.split(os.environ.get("HIPCC_FLAGS", ""))
        objects = []
        for src in hip_sources:
            obj = os.path.join(self.build_temp, os.path.splitext(src)[0] + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            cmd = hipcc + ["-c", src, "-o", obj, "-O2", "-fPIC"] + extra
            print(" ".join(shlex.quote(c) for c in cmd), flush=True)
            subprocess.check_call(cmd)
            objects.append(obj)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


setup(
    ext_modules=[
        Extension(
            "hello_rocm._hello_rocm",
            sources=["src/kernels.hip", "src/module.c"],
            libraries=["amdhip64"],
            # Debian's libamdhip64-dev puts libamdhip64.so in the default
            # multiarch dir; AMD's packages use /opt/rocm/lib.
            library_dirs=[d for d in ("/opt/rocm/lib",) if os.path.isdir(d)],
        ),
    ],
    cmdclass={"build_ext": HipBuildExt},
)
