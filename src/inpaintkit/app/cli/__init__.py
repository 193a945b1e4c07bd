"""The ``inpaintkit`` command: inpaint an image or a folder, list methods and models, run the demo, train,
benchmark and report, convert foreign checkpoints.

A user error (a missing or unreadable file, a size mismatch, an unknown name, a bad option value, an output
that exists, a missing optional package) prints one ``error: ...`` line on stderr, exits with status 1 and
writes nothing. Heavy modules are imported inside the commands that need them.
"""
from . import convert, demo, evaluate, inpaint, listing, serve, training  # noqa: F401  (each registers its commands)
from .common import app

__all__ = ["app"]
