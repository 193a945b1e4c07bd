"""The HTTP API with an in-process client on tiny models: every endpoint, every error status, progress events
in order, cancellation, the queue with two clients, known pixels exact in the returned PNG."""
import io
import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from inpaintkit.app.server.routes import create_app  # noqa: E402
from inpaintkit.app.server.session import Session  # noqa: E402
from inpaintkit.core.schedule import ScheduleConfig  # noqa: E402
from inpaintkit.models.export import write_model_folder  # noqa: E402
from inpaintkit.nets.unets import build_unet  # noqa: E402
from inpaintkit.testing.images import hole_array, smooth_array  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return str(write_model_folder(tmp_path_factory.mktemp("server") / "tiny", build_unet("tiny", 16), ScheduleConfig()))


@pytest.fixture
def client(model_dir):
    session = Session([model_dir], model_dir, device="cpu", threads=None)
    with TestClient(create_app(session, max_upload_bytes=200_000, max_pixels=300 * 300)) as c:
        yield c


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE, MASK = smooth_array(24, 28), hole_array(24, 28, top=0.25, left=0.25, size=0.4)


def submit(client, image=IMAGE, mask=MASK, method="combine-image", options=None, **form):
    files = {"image": ("image.png", png(image) if isinstance(image, np.ndarray) else image, "image/png"),
             "mask": ("mask.png", png(mask) if isinstance(mask, np.ndarray) else mask, "image/png")}
    data = {"method": method, "options": json.dumps(options if options is not None else {"steps": 3}), **form}
    return client.post("/api/v1/jobs", files=files, data=data)


def wait_done(client, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/api/v1/jobs/{job_id}").json()
        if state["state"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.05)
    raise TimeoutError(job_id)


def events_of(client, job_id) -> list[dict]:
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def test_lists_methods_and_models(client, model_dir):
    methods = {m["name"]: m for m in client.get("/api/v1/methods").json()}
    assert "combine-image" in methods and "repaint" in methods
    steps = next(o for o in methods["repaint"]["options"] if o["name"] == "steps")
    assert steps == {"name": "steps", "type": "int", "default": 250, "limits": {"ge": 1},
                     "help": "the paper's T (Table 4: T = 250, j = 10, r = 10)", "path": False}
    gradpaint = {o["name"]: o for o in methods["gradpaint"]["options"]}
    assert gradpaint["normalization"]["limits"]["choices"] == ["rms", "sign", "global"]
    models = client.get("/api/v1/models").json()
    assert models[0]["name"] == model_dir and models[0]["default"] and models[0]["resolution"] == 16
    schema = client.get("/openapi.json").json()
    assert "/api/v1/jobs" in schema["paths"] and "MethodInfo" in schema["components"]["schemas"]
    assert client.get("/").status_code == 200 and "inpaintkit" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def test_a_job_runs_with_progress_events_in_order_and_returns_a_png(client):
    response = submit(client, seed=3)
    assert response.status_code == 202
    job = response.json()
    events = events_of(client, job["id"])
    kinds = [e["event"] for e in events]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "done"
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == 3 and events[2]["of"] == 3
    result = client.get(f"/api/v1/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(result.content)))
    assert out.shape == IMAGE.shape
    keep = MASK == 0
    assert np.array_equal(out[keep], IMAGE[keep])  # known pixels exact
    assert (out[~keep] != IMAGE[~keep]).any()
    again = submit(client, seed=3).json()
    wait_done(client, again["id"])
    assert client.get(f"/api/v1/jobs/{again['id']}/result").content == result.content  # same seed, same PNG


def test_cancelling_a_running_job(client):
    job = submit(client, method="repaint", options={"steps": 400, "jump_length": 10, "jump_n_sample": 10}).json()
    deadline = time.time() + 30
    while client.get(f"/api/v1/jobs/{job['id']}").json()["step"] < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 200
    assert wait_done(client, job["id"])["state"] == "cancelled"
    assert client.get(f"/api/v1/jobs/{job['id']}/result").status_code == 409
    assert events_of(client, job["id"])[-1]["event"] == "cancelled"


def test_the_queue_with_two_clients(client):
    """While one client's long job runs, a second client's job waits and sees its place."""
    first = submit(client, method="repaint", options={"steps": 300, "jump_length": 10, "jump_n_sample": 10}).json()
    deadline = time.time() + 30
    while client.get(f"/api/v1/jobs/{first['id']}").json()["state"] != "running" and time.time() < deadline:
        time.sleep(0.02)
    seen = {}

    def other_client():
        second = submit(client).json()
        seen["position"] = second["position"]
        seen["state"] = client.get(f"/api/v1/jobs/{second['id']}").json()["state"]
        seen["final"] = wait_done(client, second["id"])["state"]

    thread = threading.Thread(target=other_client)
    thread.start()
    time.sleep(0.5)
    client.delete(f"/api/v1/jobs/{first['id']}")
    thread.join(60)
    assert seen == {"position": 0, "state": "queued", "final": "done"}


def test_a_cancelled_queued_job_never_runs(client):
    first = submit(client, method="repaint", options={"steps": 300, "jump_length": 10, "jump_n_sample": 10}).json()
    second = submit(client).json()
    assert second["position"] in (0, 1)
    client.delete(f"/api/v1/jobs/{second['id']}")
    assert client.get(f"/api/v1/jobs/{second['id']}").json()["state"] == "cancelled"
    client.delete(f"/api/v1/jobs/{first['id']}")
    assert [e["event"] for e in events_of(client, second["id"])] == ["queued", "cancelled"]


@pytest.mark.parametrize("case, status", [
    ("unknown method", 422), ("unknown model", 422), ("path as model", 422), ("bad option", 422),
    ("nan option", 422), ("options not json", 422), ("mask of another size", 422), ("not an image", 415),
    ("too many pixels", 413), ("upload too large", 413), ("missing mask", 422), ("path in an option", 422)])
def test_errors_are_json_with_the_right_status(client, case, status):
    big = np.zeros((400, 400, 3), np.uint8)
    kwargs = {"unknown method": dict(method="nope"), "unknown model": dict(model="other-model"),
              "path as model": dict(model="/etc"), "bad option": dict(options={"stepz": 3}),
              "nan option": dict(options={"steps": 3, "eta": "nan"}), "options not json": dict(options=None),
              "mask of another size": dict(mask=hole_array(10)), "not an image": dict(image=b"plain text"),
              "too many pixels": dict(image=big, mask=np.zeros((400, 400), np.uint8)),
              "upload too large": dict(image=np.random.default_rng(0).integers(0, 255, (280, 280, 3), np.uint8)),
              "path in an option": dict(method="latentpaint", options={"ep_weights": "/etc/passwd"})}
    if case == "options not json":
        response = client.post("/api/v1/jobs", files={"image": ("i.png", png(IMAGE)), "mask": ("m.png", png(MASK))},
                               data={"options": "{not json"})
    elif case == "missing mask":
        response = client.post("/api/v1/jobs", files={"image": ("i.png", png(IMAGE))})
    else:
        response = submit(client, **kwargs[case])
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], (str, list))
    assert "Traceback" not in response.text


def test_unknown_jobs_and_results_not_ready(client):
    assert client.get("/api/v1/jobs/nope").status_code == 404
    assert client.delete("/api/v1/jobs/nope").status_code == 404
    assert client.get("/api/v1/jobs/nope/result").status_code == 404


def test_a_token_guards_the_api(model_dir):
    session = Session([model_dir], model_dir, device="cpu", threads=None)
    with TestClient(create_app(session, token="s3cret")) as c:
        assert c.get("/api/v1/methods").status_code == 401
        assert c.get("/api/v1/methods", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/v1/methods", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/v1/methods?token=s3cret").status_code == 200
        assert c.get("/").status_code == 200  # the page itself holds nothing


def test_binding_wider_needs_a_token():
    from typer.testing import CliRunner

    from inpaintkit.app.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--token" in result.output
