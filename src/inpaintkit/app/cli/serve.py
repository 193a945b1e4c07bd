"""``inpaintkit serve``: the web page and HTTP API."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from ...core.errors import InpaintInputError, MissingDependencyError
from .common import DeviceOption, ThreadsOption, app, start, user_errors, warn

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command("serve")
def serve_command(
    model: Annotated[Optional[str], typer.Option(help="The model to keep warm first (a built-in name, or a folder "
                                                 "you serve) [default: the default model].", show_default=False)]
    = None,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 7860,
    token: Annotated[Optional[str], typer.Option(help="Require this token on every API request (Authorization: "
                                                 "Bearer, or ?token= for the page).", show_default=False)] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Serve the page (paint a mask, pick a method, watch it inpaint) and the HTTP API (OpenAPI at /docs)."""
    with user_errors():
        try:
            import uvicorn

            from ..server.routes import create_app
            from ..server.session import Session
        except ImportError:
            raise MissingDependencyError("inpaintkit serve", 'pip install "inpaintkit[web]"') from None
        from ...api import DEFAULT_MODEL
        from ...models import builtin_models

        if host not in LOOPBACK:
            if not token:
                raise InpaintInputError(f"--host {host} makes the server reachable from other machines: give --token")
            warn(f"bound to {host}: every machine that can reach it and knows the token can use it")
        models = list(builtin_models())
        default = model or DEFAULT_MODEL
        if default not in models:
            models.insert(0, default)
        session = Session(models, default, device=start(device, threads), threads=threads)
        url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        typer.echo(f"inpaintkit serving {', '.join(models)} at {url}", err=True)
        uvicorn.run(create_app(session, token=token), host=host, port=port, log_level="warning")
