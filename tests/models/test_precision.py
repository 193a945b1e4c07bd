"""The bf16 fast path: what it casts, what stays fp32, and how far its output is from fp32's."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.models import load_model
from inpaintkit.models.precision import native_bf16, resolve_precision, set_precision
from inpaintkit.sampling import sample
from inpaintkit.testing.images import square_hole
from inpaintkit.testing.tiny import tiny_latent_model

BF16_LPIPS = 0.05  # the stated tolerance: LPIPS-alex between the fp32 and the bf16 result of the same seed


def test_bf16_casts_the_networks_and_keeps_the_samples_fp32():
    model = tiny_latent_model(32)
    assert set_precision(model, "bf16") == torch.bfloat16
    assert model.dtype == torch.bfloat16 and model.autoencoder.dtype == torch.bfloat16
    x = torch.randn(model.latent_shape(2))
    with torch.no_grad():
        pred = model.predict(x, 500)
        assert pred.x0.dtype == torch.float32 and model.decode(pred.x0).dtype == torch.float32
    assert set_precision(model, "fp32") == torch.float32 and model.dtype == torch.float32
    assert resolve_precision("auto", torch.device("cpu")) == (torch.bfloat16 if native_bf16(torch.device("cpu"))
                                                             else torch.float32)
    with pytest.raises(InpaintInputError, match="precision"):
        resolve_precision("fp8", torch.device("cpu"))


def test_bf16_output_is_close_to_fp32():
    from inpaintkit.nets.lpips import LPIPS

    lpips = LPIPS("alex")
    model = load_model("faces-32")
    faces = sample(model, 2, 20, [torch.Generator().manual_seed(i) for i in range(2)], show_progress=False)
    mask = square_hole(32, top=0.25, left=0.25, size=0.5)
    results = {}
    for precision in ("fp32", "bf16"):
        inpainter = Inpainter(model, threads=None, precision=precision)
        results[precision] = torch.cat([inpainter(f, mask[0], steps=20, seed=3, progress=False) for f in faces])
    distance = lpips(results["fp32"], results["bf16"])
    assert (distance < BF16_LPIPS).all(), distance
    assert not torch.equal(results["fp32"], results["bf16"])  # the fast path really ran in bf16


@pytest.mark.slow
def test_a_compiled_unet_inpaints_as_the_eager_one():
    """``compile=True`` (torch.compile in place): the same result within float tolerance; the module keeps its
    names, so hooks and attention processors still find their layers."""
    from inpaintkit.testing.images import smooth_image, square_hole
    from inpaintkit.testing.tiny import tiny_pixel_model

    image, mask = smooth_image(16, seed=1), square_hole(16, size=0.5)
    eager = Inpainter(tiny_pixel_model(16), threads=None)(image, mask, steps=3, seed=0, progress=False)
    inpainter = Inpainter(tiny_pixel_model(16), threads=None, compile=True)
    compiled = inpainter(image, mask, steps=3, seed=0, progress=False)
    assert (compiled - eager).abs().max() < 1e-4
    assert dict(inpainter.model.unet.named_parameters()).keys() == dict(tiny_pixel_model(16).unet.named_parameters()).keys()
