"""The HTTP API (``/api/v1``, OpenAPI schema at ``/openapi.json``) and the page, over one :class:`Session`.

Errors are JSON ``{"detail": "..."}`` with the right status, never a stack trace: 401 without the token,
404 for an unknown job, 409 for a result not ready, 413 for an upload or image too large, 415 for a file that
is not an image, 422 for a bad value (an unknown method, model or option, a mask of another size). No request
can name a file on the server: models are the ones the server was started with.
"""
from __future__ import annotations

import asyncio
import json
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from ...core.errors import ImageTooLargeError, InpaintInputError, UnreadableImageError
from ...core.images import load_image, load_mask, open_image
from ...methods import METHODS, describe_options, get_method
from ...models import builtin_models, model_summary
from .session import Session

MAX_UPLOAD_BYTES = 20 * 2**20
MAX_PIXELS = 4096 * 4096


class OptionInfo(BaseModel):
    name: str
    type: str
    default: Any = None
    limits: dict = {}
    help: str = ""
    path: bool = False  # names a file: not settable over HTTP


class MethodInfo(BaseModel):
    name: str
    summary: str
    paper: str
    spaces: list[str]
    options: list[OptionInfo]


class ModelInfo(BaseModel):
    name: str
    default: bool
    resolution: int | None = None  # None for a hub id not fetched yet
    space: str | None = None
    conditioning: str | None = None
    parameters: int | None = None
    training_steps: int | None = None


class JobInfo(BaseModel):
    id: str
    state: str
    position: int | None = None
    model: str | None = None
    method: str
    step: int = 0
    of: int = 0
    phase: str = ""
    error: str | None = None


def method_info(name: str) -> MethodInfo:
    spec = METHODS[name]
    options = [OptionInfo(**o) for o in describe_options(name)]
    return MethodInfo(name=name, summary=spec.summary, paper=spec.paper, spaces=list(spec.spaces), options=options)


def create_app(session: Session, token: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = MAX_PIXELS) -> FastAPI:
    app = FastAPI(title="inpaintkit", version="1", description="Inpaint images with pretrained diffusion models.")

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
            request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a token is required: Authorization: Bearer <token>, or ?token=<token>")

    api = Depends(authorised)

    @app.exception_handler(InpaintInputError)
    async def bad_input(request: Request, exc: InpaintInputError):
        status = 413 if isinstance(exc, ImageTooLargeError) else 415 if isinstance(exc, UnreadableImageError) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    def job_of(job_id: str):
        job = session.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def info(job) -> JobInfo:
        return JobInfo(**job.summary(session.position(job)))

    @app.get("/api/v1/methods", response_model=list[MethodInfo], dependencies=[api])
    def methods():
        """Every method with its options: types, defaults and limits, from the method's options dataclass."""
        return [method_info(name) for name in sorted(METHODS)]

    @app.get("/api/v1/models", response_model=list[ModelInfo], dependencies=[api])
    def models():
        """The models this server inpaints with."""
        folders = builtin_models()
        out = []
        for name in session.models:
            folder = folders.get(name, Path(name))
            summary = model_summary(folder) if folder.is_dir() else {}
            out.append(ModelInfo(name=name, default=name == session.default_model,
                                 **{k: summary.get(k) for k in ("resolution", "space", "conditioning", "parameters",
                                                                "training_steps")}))
        return out

    async def read(upload: UploadFile, what: str) -> bytes:
        data = await upload.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"the {what} is larger than {max_upload_bytes:,} bytes")
        return data

    @app.post("/api/v1/jobs", response_model=JobInfo, status_code=202, dependencies=[api])
    async def submit(image: UploadFile = File(...), mask: UploadFile = File(...), method: str = Form("combine-image"),
                     model: str | None = Form(None), options: str = Form("{}"), prompt: str | None = Form(None),
                     seed: int = Form(0)):
        """Queue an inpainting job: the image, its mask (white = fill), the method and its options (a JSON
        object), the model (one of /models), a prompt for text-conditioned models, a seed."""
        if method not in METHODS:
            raise HTTPException(422, f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}")
        model = model or session.default_model
        if get_method(method).needs_model and model not in session.models:
            raise HTTPException(422, f"unknown model {model!r}; this server has: {', '.join(session.models)}")
        try:
            values = json.loads(options)
        except json.JSONDecodeError:
            raise HTTPException(422, "options must be a JSON object") from None
        if not isinstance(values, dict):
            raise HTTPException(422, "options must be a JSON object")
        paths = {o["name"] for o in describe_options(method) if o["path"]} & {k.replace("-", "_") for k in values}
        if paths:
            raise HTTPException(422, f"option(s) {', '.join(sorted(paths))} name files on the server: not over HTTP")
        if not -2**31 <= seed < 2**63:
            raise HTTPException(422, "seed out of range")
        image_data, mask_data = await read(image, "image"), await read(mask, "mask")
        picture = load_image(open_image(image_data, "image", max_pixels))
        hole = load_mask(open_image(mask_data, "mask", max_pixels), size=tuple(picture.shape[-2:]))
        job = session.submit(picture, hole, method, model, values, prompt, seed)
        return info(job)

    @app.get("/api/v1/jobs/{job_id}", response_model=JobInfo, dependencies=[api])
    def status(job_id: str):
        """A job's state, its place in the queue and its progress (step of steps, phase)."""
        return info(job_of(job_id))

    @app.delete("/api/v1/jobs/{job_id}", response_model=JobInfo, dependencies=[api])
    def cancel(job_id: str):
        """Cancel a queued or running job; nothing of it is kept."""
        job = job_of(job_id)
        session.cancel(job)
        return info(job)

    @app.get("/api/v1/jobs/{job_id}/events", dependencies=[api])
    async def events(job_id: str):
        """Server-sent events of a job, in order: queued (with the position), started, progress, and one of
        done / failed / cancelled, after which the stream ends."""
        job = job_of(job_id)

        async def stream():
            seen = 0
            while True:
                new = await asyncio.to_thread(session.wait, job, seen, 5.0)
                for event in new:
                    yield f"event: {event['event']}\ndata: {json.dumps(event)}\n\n"
                seen += len(new)
                if new and new[-1]["event"] in ("done", "failed", "cancelled"):
                    return
                if not new:
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/v1/jobs/{job_id}/result", dependencies=[api],
             responses={200: {"content": {"image/png": {}}, "description": "the inpainted image"}})
    def result(job_id: str):
        """The finished job's image (PNG, the input's size)."""
        job = job_of(job_id)
        if job.state != "done":
            raise HTTPException(409, f"job {job_id} is {job.state}, not done")
        return Response(job.result, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="inpainted-{job_id[:8]}.png"'})

    static = resources.files("inpaintkit.app.server") / "static"

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(str(static / "index.html"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
