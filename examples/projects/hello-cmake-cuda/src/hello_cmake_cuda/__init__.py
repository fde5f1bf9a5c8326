"""CUDA extension example for wheelbuild, built through CMake's CUDA language."""

from ._core import add, build_version, device_count, scale, sort

__all__ = ["add", "build_version", "device_count", "scale", "sort"]
