"""C++ extension example for wheelbuild: `hello_skbuild.add(2, 3) == 5`."""

from ._core import add

__all__ = ["add"]
