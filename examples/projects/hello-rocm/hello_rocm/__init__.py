"""Tiny ROCm/HIP extension example. Importing and calling it needs libamdhip64 but no GPU."""

from ._hello_rocm import add, build_version, device_count, device_status, driver_version, runtime_version

__version__ = "0.1.0"
__all__ = [
    "add", "build_version", "device_count", "device_status", "driver_version", "gpu_available", "runtime_version",
]


def gpu_available() -> bool:
    """True when at least one HIP (AMD GPU) device is visible."""
    return device_count() > 0
