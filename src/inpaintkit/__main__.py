"""``python -m inpaintkit``: the command line."""
from .app.cli import app

app()
