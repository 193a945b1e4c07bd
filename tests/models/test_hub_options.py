"""Hub conveniences: weights variants, revisions, a cache folder, single-file checkpoints and their offline errors."""
import huggingface_hub
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

import inpaintkit.models.hub as hub_module
from inpaintkit.app.cli import app
from inpaintkit.core.errors import ModelNotFoundError
from inpaintkit.models import load_model
from inpaintkit.models.hub import HubOptions, hub_files_to_fetch
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import save_tiny_sd_folder

REPO = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
        "text_encoder/model.safetensors", "tokenizer/vocab.json"]


def test_a_variant_fetches_its_weights_where_a_component_has_them():
    files = hub_files_to_fetch(REPO, variant="fp16")
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files and "text_encoder/model.fp16.safetensors" in files
    assert "vae/diffusion_pytorch_model.safetensors" in files  # no fp16 file: the plain one
    assert "unet/diffusion_pytorch_model.safetensors" not in files  # one weights file per component


def test_revision_and_cache_folder_reach_the_hub(monkeypatch, tmp_path):
    calls = {}
    monkeypatch.setattr(hub_module, "hub_reachable", lambda: True)

    def listing(repo, revision=None):
        calls["list"] = revision
        return REPO

    class RevisionNotFoundError(Exception):  # what the hub raises, by name
        pass

    def snapshot(repo, allow_patterns=None, revision=None, cache_dir=None):
        calls["snapshot"] = (repo, revision, cache_dir, sorted(allow_patterns))
        raise RevisionNotFoundError("no such revision")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", listing)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    with pytest.raises(ModelNotFoundError, match="has no revision 'v9'"):
        load_model("some-org/some-model", hub=HubOptions(variant="fp16", revision="v9", cache_dir=str(tmp_path)))
    assert calls["list"] == "v9"
    repo, revision, cache, patterns = calls["snapshot"]
    assert (repo, revision, cache) == ("some-org/some-model", "v9", str(tmp_path))
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in patterns


def test_a_local_folder_reads_the_variant_weights(tmp_path):
    folder = save_tiny_sd_folder(tmp_path / "sd")
    plain = load_model(folder)
    changed = load_model(folder)
    with torch.no_grad():
        changed.unet.conv_in.bias += 1
    changed.unet.save_pretrained(folder / "unet", variant="fp16")  # a second weights file, *.fp16.safetensors
    assert torch.equal(load_model(folder).unet.conv_in.bias, plain.unet.conv_in.bias)
    assert torch.equal(load_model(folder, hub=HubOptions(variant="fp16")).unet.conv_in.bias, changed.unet.conv_in.bias)
    model = load_model(folder, hub=HubOptions(variant="fp16"))  # the vae and text encoder have no fp16 file: plain
    image, mask = smooth_image(32)[0], square_hole(32)[0]
    from inpaintkit.api import Inpainter

    out = Inpainter(model, threads=None)(image, mask, prompt="a door", steps=2, progress=False)
    assert torch.isfinite(out).all()


def test_single_file_checkpoints_offline_name_the_configs_they_need(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sd15 = tmp_path / "v1-5-pruned.safetensors"
    save_file({"model.diffusion_model.output_blocks.11.0.skip_connection.weight": torch.zeros(2, 2)}, sd15)
    with pytest.raises(ModelNotFoundError, match="needs the configs of stable-diffusion-v1-5/stable-diffusion-v1-5.*"
                                                 "--config FOLDER"):
        load_model(sd15)
    from inpaintkit.core.images import to_pil

    to_pil(smooth_image(32)[0]).save(tmp_path / "a.png")
    to_pil(square_hole(32)[0].expand(3, -1, -1) * 2 - 1).save(tmp_path / "b.png")
    result = CliRunner().invoke(app, ["inpaint", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o",
                                      str(tmp_path / "out.png"), "--model", str(sd15)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "--config FOLDER" in result.stderr
    other = tmp_path / "unet-weights.safetensors"
    save_file({"conv_in.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(ModelNotFoundError, match="not a single-file Stable Diffusion checkpoint"):
        load_model(other)
