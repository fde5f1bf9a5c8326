"""Tiny CUDA extension example. Importing and calling it needs libcudart but no GPU."""

from ._hello_cuda import add, build_version, device_count, driver_version, runtime_version

__version__ = "0.1.0"
__all__ = ["add", "build_version", "device_count", "driver_version", "gpu_available", "runtime_version"]


def gpu_available() -> bool:
    """True when at least one CUDA device is visible."""
    return device_count() > 0
