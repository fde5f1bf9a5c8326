"""Tiny pure-Python example package."""

__version__ = "0.1.0"


def greet(name: str) -> str:
    """Return a greeting for *name*."""
    return f"Hello, {name}!"
