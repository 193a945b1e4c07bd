"""``inpaintkit serve``: an HTTP API and a page that paints the mask in the browser, over one warm model.

Needs the ``web`` extra: ``pip install "inpaintkit[web]"`` (FastAPI, uvicorn, python-multipart)."""
