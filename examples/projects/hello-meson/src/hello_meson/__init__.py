"""C extension example for wheelbuild: `hello_meson.add(2, 3) == 5`."""

from ._hello import add

__all__ = ["add"]
