"""The faces of inpaintkit: the command line, the demo, file handling for folders; nothing in the library
imports this package."""
