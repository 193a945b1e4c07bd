"""The errors a user can cause, each answered by the command line with one ``error: ...`` line.

Every one of them is raised before anything is written, so a refused run leaves the disk as it was.
"""
from __future__ import annotations


class InpaintInputError(ValueError):
    """Bad user input (a file, an option value, a size): one clear line, nothing written."""


class ModelNotFoundError(InpaintInputError):
    """A model source that is neither a built-in name, a local folder nor a reachable hub id, or a
    component (an autoencoder, a text encoder) that a model names and that cannot be found."""


class UnreadableImageError(InpaintInputError):
    """A file that is not an image inpaintkit can decode."""


class ImageTooLargeError(InpaintInputError):
    """An image with more pixels than the reader accepts (told from its header, before decoding)."""


class UnsafeFileError(InpaintInputError):
    """A file that would run code when read (a pickle needing more than tensors and plain values)."""


class MissingDependencyError(ImportError):
    """An optional package that a feature needs; the message names the command that installs it."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} needs an optional package: {install}")
        self.install = install
