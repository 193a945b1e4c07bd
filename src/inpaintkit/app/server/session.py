"""The server's state: one warm model (switched on request), and a queue of jobs run one at a time.

A job holds its inputs, its progress events and, once done, its PNG, in memory only: a cancelled or failed
job leaves nothing behind, and finished jobs beyond :data:`KEEP_FINISHED` are forgotten oldest first.
"""
from __future__ import annotations

import io
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import torch

from ...api import Inpainter
from ...core.images import to_pil
from ...methods import get_method, make_options

KEEP_FINISHED = 64
STATES = ("queued", "running", "done", "failed", "cancelled")


class Cancelled(Exception):
    """Raised inside a running job's progress function when its client cancels it."""


@dataclass
class Job:
    id: str
    model: str | None
    method: str
    options: dict
    prompt: str | None
    seed: int
    image: torch.Tensor
    mask: torch.Tensor
    state: str = "queued"
    step: int = 0
    of: int = 0
    phase: str = ""
    error: str | None = None
    result: bytes | None = None
    created: float = field(default_factory=time.time)
    events: list = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)

    def summary(self, position: int | None) -> dict:
        return {"id": self.id, "state": self.state, "position": position, "model": self.model, "method": self.method,
                "step": self.step, "of": self.of, "phase": self.phase, "error": self.error}


class Session:
    """Jobs in arrival order, run by one worker thread on the one warm :class:`~inpaintkit.api.Inpainter`."""

    def __init__(self, models: list[str], default_model: str, device: str = "auto", threads="auto"):
        self.models, self.default_model, self.device, self.threads = list(models), default_model, device, threads
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.queue: deque[Job] = deque()
        self.lock = threading.Condition()
        self.inpainter: Inpainter | None = None
        self.warm_model: str | None = None
        self.worker = threading.Thread(target=self._work, daemon=True, name="inpaintkit-jobs")
        self.worker.start()

    # -- the clients' side ---------------------------------------------------------------------
    def submit(self, image: torch.Tensor, mask: torch.Tensor, method: str, model: str | None, options: dict,
               prompt: str | None, seed: int) -> Job:
        spec = get_method(method)
        make_options(method, options)  # 422 before the job is queued
        job = Job(uuid.uuid4().hex, model if spec.needs_model else None, method, options, prompt or None, seed,
                  image, mask)
        with self.lock:
            self.jobs[job.id] = job
            self.queue.append(job)
            self._event(job, "queued", position=self.position(job))
            self.lock.notify_all()
        return job

    def position(self, job: Job) -> int | None:
        """The job's place in the queue (0: next to run), None once it has started."""
        try:
            return list(self.queue).index(job)
        except ValueError:
            return None

    def cancel(self, job: Job) -> None:
        with self.lock:
            if job.state == "queued":
                self.queue.remove(job)
                self._finish(job, "cancelled")
            elif job.state == "running":
                job.cancel.set()

    def wait(self, job: Job, seen: int, timeout: float = 15.0) -> list[dict]:
        """The events after the first ``seen``, waiting up to ``timeout`` seconds for one."""
        with self.lock:
            self.lock.wait_for(lambda: len(job.events) > seen, timeout=timeout)
            return job.events[seen:]

    # -- the worker ------------------------------------------------------------------------------
    def _event(self, job: Job, kind: str, **data) -> None:
        job.events.append({"event": kind, "state": job.state, **data})
        self.lock.notify_all()

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        job.state, job.error = state, error
        job.image = job.mask = None  # the inputs go with the job's end
        self._event(job, state, **({"error": error} if error else {}))
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed", "cancelled")]
        for old in finished[:-KEEP_FINISHED]:
            del self.jobs[old.id]

    def _inpainter(self, model: str | None) -> Inpainter:
        if model is None:
            return Inpainter(None, device=self.device, threads=None)
        if self.warm_model != model:
            self.inpainter = None  # one warm model: the previous one is freed first
            self.inpainter = Inpainter(model, device=self.device, threads=None)
            self.warm_model = model
        return self.inpainter

    def _work(self) -> None:
        from ...core.env import set_threads

        set_threads(self.threads)
        while True:
            with self.lock:
                self.lock.wait_for(lambda: len(self.queue) > 0)
                job = self.queue.popleft()
                job.state = "running"
                self._event(job, "started")
                for waiting in self.queue:
                    self._event(waiting, "queued", position=self.position(waiting))
            try:
                result = self._run(job)
            except Cancelled:
                with self.lock:
                    self._finish(job, "cancelled")
                continue
            except Exception as e:  # a bad prompt, a model that cannot load, ...: the job fails, the server goes on
                with self.lock:
                    self._finish(job, "failed", str(e).splitlines()[0] if str(e) else type(e).__name__)
                continue
            with self.lock:
                job.result = result
                self._finish(job, "done")

    def _run(self, job: Job) -> bytes:
        def report(step: int, of: int, phase: str) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            with self.lock:
                job.step, job.of, job.phase = step, of, phase
                self._event(job, "progress", step=step, of=of, phase=phase)

        inpainter = self._inpainter(job.model)
        out = inpainter(job.image, job.mask, method=job.method, prompt=job.prompt, seed=job.seed, progress=report,
                        **job.options)
        buffer = io.BytesIO()
        to_pil(out[0]).save(buffer, format="PNG")
        return buffer.getvalue()
