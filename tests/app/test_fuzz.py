"""A bounded property-based fuzz of the HTTP API from its OpenAPI schema (schemathesis): no request, however
malformed, gets a 500."""
import pytest
import torch

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from inpaintkit.app.server.routes import create_app  # noqa: E402
from inpaintkit.app.server.session import Session  # noqa: E402
from inpaintkit.testing.tiny import tiny_pixel_model  # noqa: E402


def make_app():
    import tempfile

    folder = tempfile.mkdtemp(prefix="fuzz-model-")
    torch.manual_seed(0)
    tiny_pixel_model(16).unet.save_pretrained(folder)
    return create_app(Session([folder], folder, device="cpu", threads=None), max_upload_bytes=100_000,
                      max_pixels=128 * 128)


schema = schemathesis.openapi.from_asgi("/openapi.json", make_app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
