"""The benchmark runner: complete runs, kill-and-resume, 2-process sharding, configs, and the report."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintkit.core.errors import InpaintInputError
from inpaintkit.data.images import resolve_data
from inpaintkit.evaluation.bench import run_bench
from inpaintkit.evaluation.config import (PRESETS, BenchConfig, build_config, image_paths, parse_method_settings,
                                          work_items)
from inpaintkit.evaluation.rundir import RunDir, merge_manifests, read_manifest
from inpaintkit.testing.images import smooth_pil
from inpaintkit.testing.tiny import tiny_pixel_model

TIMING = {"seconds", "fit_seconds", "sample_seconds"}  # the only manifest fields that may differ between identical runs


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_assets")
    tiny_pixel_model(32).unet.save_pretrained(root / "model")
    (root / "images").mkdir()
    for i in range(3):  # smooth 20x24 colour fields: non-square, cropped and resized to the model's 32 px
        smooth_pil(24, 20, seed=i).save(root / "images" / f"img{i}.png")
    return root


def config(assets: Path, **overrides) -> dict:
    cfg = dict(methods=["copy", "greyfill", {"name": "combine-image", "options": {"steps": 3}}],
               images=[str(assets / "images")], masks=["box-random", "thick"], model=str(assets / "model"),
               seeds=[0, 1], device="cpu")
    cfg.update(overrides)
    return cfg


def comparable(manifest: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in manifest.read_text().splitlines()]


def run_in_subprocess(cfg: dict, out: Path, env_extra: dict | None = None) -> subprocess.Popen:
    script = "import json, sys; from inpaintkit.evaluation.bench import run_bench; from inpaintkit.evaluation.config import BenchConfig; " \
             "run_bench(BenchConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)"
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-c", script, json.dumps(cfg), str(out)], env=env)


@pytest.fixture(scope="module")
def reference_run(assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    manifest = run_bench(BenchConfig.from_dict(config(assets)), out, progress=False)
    return out, manifest


def test_single_process_run(assets, reference_run):
    out, manifest = reference_run
    assert manifest == out / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(entries) == 3 * 3 * 2 * 2 == len({e["key"] for e in entries})  # methods x images x masks x seeds
    for e in entries:
        assert e["resolution"] == 32
        output = np.asarray(Image.open(out / e["output"]))
        gt = np.asarray(Image.open(out / e["gt"]))
        hole = np.asarray(Image.open(out / e["mask"]).convert("L")) > 127
        assert output.shape == gt.shape == (32, 32, 3) and hole.any()
        assert (output[~hole] == gt[~hole]).all()  # the known region is untouched
        if e["label"] == "COPY":
            assert (output == gt).all() and e["network_calls"] == 0 == e["known_change_before_paste"]
        elif e["label"] == "GREYFILL":
            assert (output[hole] == 128).all() and e["known_change_before_paste"] == 0
        else:
            assert e["network_calls"] == 3 and e["options"]["steps"] == 3 and not (output[hole] == 128).all()
            assert e["known_change_before_paste"] == 0  # combine-image composites the known pixels itself
    # the same image and mask set has the same mask for every method and seed
    assert len({(e["mask"], e["hole_ratio"]) for e in entries}) == 3 * 2
    # a rerun of a finished run does nothing and changes nothing
    before = manifest.read_bytes()
    run_bench(BenchConfig.from_dict(config(assets)), out, progress=False)
    assert manifest.read_bytes() == before


def test_rerun_with_another_config_is_refused(assets, reference_run):
    out, _ = reference_run
    with pytest.raises(InpaintInputError, match="another configuration"):
        run_bench(BenchConfig.from_dict(config(assets, seeds=[5])), out, progress=False)


def test_rerun_may_add_methods(assets, tmp_path):
    out = tmp_path / "run"
    first = config(assets, seeds=[0], masks=["thick"])
    run_bench(BenchConfig.from_dict(first), out, progress=False)
    before = {json.loads(line)["key"]: line for line in (out / "manifest.jsonl").read_text().splitlines()}
    added = {"name": "combine-noisy", "options": {"steps": 2}}
    manifest = run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"], methods=[added])), out,
                         progress=False)
    assert [m.label for m in RunDir(out).read_config().methods] == ["COPY", "GREYFILL", "combine-image",
                                                                   "combine-noisy"]
    after = {json.loads(line)["key"]: line for line in manifest.read_text().splitlines()}
    assert len(after) == len(before) + 3 and all(after[k] == line for k, line in before.items())  # old rows untouched
    changed = {"name": "combine-image", "options": {"steps": 4}}  # a recorded row with other options
    with pytest.raises(InpaintInputError, match="another configuration"):
        run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"], methods=[changed])), out,
                  progress=False)


def test_kill_and_resume(assets, reference_run, tmp_path):
    cfg = config(assets, methods=["copy", "greyfill", {"name": "combine-image", "options": {"steps": 40}}])
    out = tmp_path / "run"
    proc = run_in_subprocess(cfg, out)
    shard = out / "manifest.rank0.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if shard.is_file() and len(shard.read_bytes().splitlines()) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(RunDir(out).entries())
    assert 4 <= done_before < 36 and not (out / "manifest.jsonl").exists()
    # a line cut mid-write, and an image written whose line never was
    with open(shard, "ab") as f:
        f.write(b'{"key": "COPY/thick/img2/s1", "outp')
    run_bench(BenchConfig.from_dict(cfg), out, progress=False)
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(entries) == 36 == len({e["key"] for e in entries})
    for line in shard.read_text().splitlines():
        json.loads(line)  # the truncated line was cut, not continued
    # identical to an uninterrupted run of the same config
    clean = tmp_path / "clean"
    run_bench(BenchConfig.from_dict(cfg), clean, progress=False)
    assert comparable(out / "manifest.jsonl") == comparable(clean / "manifest.jsonl")


def test_two_process_shards_merge_into_the_single_process_manifest(assets, reference_run, tmp_path):
    out = tmp_path / "sharded"
    script = tmp_path / "bench_script.py"
    script.write_text("import json, sys\nfrom inpaintkit.evaluation.bench import run_bench; from inpaintkit.evaluation.config import BenchConfig\n"
                      "run_bench(BenchConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(script), json.dumps(config(assets)), str(out)], env=env, check=True, capture_output=True)
    shards = sorted(p.name for p in out.glob("manifest.rank*.jsonl"))
    assert shards == ["manifest.rank0.jsonl", "manifest.rank1.jsonl"]
    lines = [len(p.read_text().splitlines()) for p in sorted(out.glob("manifest.rank*.jsonl"))]
    assert lines == [18, 18]
    merged = merge_manifests(out)
    single, _ = reference_run
    assert comparable(merged) == comparable(single / "manifest.jsonl")
    for e in read_manifest(out):  # same bytes, not only the same recorded hash
        assert (out / e["output"]).read_bytes() == (single / e["output"]).read_bytes()


def test_batches_give_each_image_the_noise_it_gets_alone(assets, reference_run, tmp_path):
    """batch_size groups the work only: outputs agree with the one-at-a-time run up to float rounding
    (one 8-bit level), and a resumed run may change it."""
    ref_root = reference_run[0]
    reference = {e["key"]: e for e in read_manifest(ref_root)}
    run_bench(BenchConfig.from_dict(config(assets, batch_size=2)), tmp_path, progress=False)
    entries = read_manifest(tmp_path)
    assert [e["key"] for e in entries] == list(reference)
    for e in entries:
        ours = np.asarray(Image.open(tmp_path / e["output"]), dtype=int)
        theirs = np.asarray(Image.open(ref_root / reference[e["key"]]["output"]), dtype=int)
        assert np.abs(ours - theirs).max() <= 1
        assert e["network_calls"] == reference[e["key"]]["network_calls"]
    assert sorted({e["batch_size"] for e in entries if e["label"] == "combine-image"}) == [1, 2]  # 3 images: 2 + 1
    run_bench(BenchConfig.from_dict(config(assets, batch_size=3)), tmp_path, progress=False)  # not refused


def test_gradient_methods_record_backward_calls(assets, tmp_path):
    cfg = config(assets, methods=[{"name": "gradpaint-fast", "options": {"steps": 4}}], masks=["thick"], seeds=[0],
                 batch_size=2)
    run_bench(BenchConfig.from_dict(cfg), tmp_path, progress=False)
    assert {(e["network_calls"], e["backward_calls"]) for e in read_manifest(tmp_path)} == {(4, 2)}


def test_the_known_region_before_paste_back_is_recorded(assets, tmp_path):
    """DPS leaves the known pixels where its sampler put them: the output's known region is the input's, the
    change before paste-back is the method's own."""
    cfg = config(assets, methods=["copy", {"name": "dps", "options": {"steps": 4}}], masks=["thick"], seeds=[0])
    run_bench(BenchConfig.from_dict(cfg), tmp_path, progress=False)
    changes = {e["label"]: e["known_change_before_paste"] for e in read_manifest(tmp_path)}
    assert changes["COPY"] == 0 < changes["dps"]
    for e in read_manifest(tmp_path):
        output, gt = (np.asarray(Image.open(tmp_path / e[k])) for k in ("output", "gt"))
        hole = np.asarray(Image.open(tmp_path / e["mask"]).convert("L")) > 127
        assert (output[~hole] == gt[~hole]).all()


def test_config_files_presets_and_flags(assets, tmp_path):
    cfg = config(assets)
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    yaml_text = "\n".join([
        "methods:", "  - copy", "  - name: combine-image", "    label: CI-3", "    options: {steps: 3}",
        f"images: {assets / 'images'}", "masks: thick", "seeds: [0, 1]"])
    (tmp_path / "c.yaml").write_text(yaml_text)
    from_json = build_config(str(tmp_path / "c.json"))
    assert from_json.to_dict() == BenchConfig.from_dict(cfg).to_dict()
    from_yaml = build_config(str(tmp_path / "c.yaml"), n_images=2)
    assert [m.label for m in from_yaml.methods] == ["COPY", "CI-3"] and from_yaml.masks == ["thick"]
    assert len(work_items(from_yaml, image_paths(from_yaml))) == 2 * 2 * 2
    preset = build_config(preset="faces-thick", n_images=100)
    assert preset.masks == ["thick"] and preset.crop == 140 and preset.n_images == 100
    assert [m.label for m in preset.methods][:2] == ["COPY", "GREYFILL"] and preset == build_config(
        preset="faces-thick", n_images=100)
    assert set(PRESETS) >= {"faces-thick"}
    methods = parse_method_settings(["combine-image", "copy"], ["combine-image.steps=7"])
    assert methods == [{"name": "combine-image", "options": {"steps": "7"}}, {"name": "copy", "options": {}}]
    with pytest.raises(InpaintInputError):
        parse_method_settings(["copy"], ["repaint.steps=3"])
    with pytest.raises(InpaintInputError, match="unknown option"):
        BenchConfig.from_dict(config(assets, methods=[{"name": "combine-image", "options": {"stepz": 3}}])).check()


@pytest.mark.data
def test_faces_preset_prepares_held_out_faces(tmp_path):
    cfg = build_config(preset="faces-thick", n_images=4, model=None, resolution=32,
                       methods=["copy", "greyfill"])
    try:
        folders = [resolve_data(f) for f in cfg.images]
    except InpaintInputError:
        pytest.skip("needs the CelebA faces (shared/data/celeba)")
    assert len([p for folder in folders for p in folder.glob("*.jpg")]) == 1199
    run_bench(cfg, tmp_path, progress=False)
    entries = read_manifest(tmp_path)
    assert len(entries) == 8 and all(e["resolution"] == 32 for e in entries)
    assert all(0.0 < e["hole_ratio"] <= 0.5 for e in entries)


def test_report(assets, tmp_path):
    from inpaintkit.evaluation.metrics.fid import InceptionFeatures
    from inpaintkit.nets.lpips import weights_file
    from inpaintkit.evaluation.report import report

    weights_file("alex")  # the weights, not the JAX code around them: this test runs wherever they are installed
    InceptionFeatures()

    run = tmp_path / "run"
    run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"])), run, progress=False)
    md = report(run, tmp_path / "report")
    text = md.read_text()
    for name in ("COPY", "GREYFILL", "combine-image", "LPIPS-alex", "FID", "s/image"):
        assert name in text
    rows = {r["method"]: r for r in json.loads((tmp_path / "report" / "report.json").read_text())["rows"]}
    copy, grey, method = rows["COPY"], rows["GREYFILL"], rows["combine-image"]
    assert copy["lpips_alex"] == 0 and copy["lpips_vgg"] == 0 and copy["psnr"] == float("inf")
    assert copy["fid"] < 1e-3 < grey["fid"] and copy["kid"] < grey["kid"]
    assert grey["lpips_alex"] > 0 and grey["ssim_hole"] < 1 and copy["ssim"] == pytest.approx(1.0)
    assert copy["known_change"] == grey["known_change"] == method["known_change"] == 0
    assert copy["known_change_before_paste"] == method["known_change_before_paste"] == 0  # the manifest's, averaged
    assert "known change before paste" in text
    assert copy["n"] == copy["fid_n"] == 3 and method["network_calls"] == 3
    assert (tmp_path / "report" / "report.csv").read_text().count("\n") == 1 + 3
    for name in ("quality_vs_time.png", "grid.png"):
        assert Image.open(tmp_path / "report" / name).size[0] > 100


def test_report_pairs_rows_image_by_image(assets, tmp_path):
    """--against: every row's per-image differences from one row (mean, standard error, images better), from
    the same run or from another run of the same images, masks and seeds; a run with other masks is refused."""
    from inpaintkit.evaluation.metrics.fid import InceptionFeatures
    from inpaintkit.evaluation.report import report
    from inpaintkit.nets.lpips import weights_file

    weights_file("alex")
    InceptionFeatures()
    run, grey_run, other_masks = tmp_path / "run", tmp_path / "grey", tmp_path / "other-masks"
    run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"])), run, progress=False)
    alone = dict(seeds=[0], masks=["thick"], methods=["greyfill"], resolution=32)  # no model: resolution given
    run_bench(BenchConfig.from_dict(config(assets, **alone)), grey_run, progress=False)
    run_bench(BenchConfig.from_dict(config(assets, **alone, mask_seed=7)), other_masks, progress=False)

    md = report(run, tmp_path / "within", against="GREYFILL").read_text()
    result = json.loads((tmp_path / "within" / "report.json").read_text())
    paired = {r["method"]: r for r in result["paired"]}
    assert set(paired) == {"COPY", "combine-image"} and "## Paired against GREYFILL" in md
    with np.load(run / "cache" / "GREYFILL__thick.npz") as z:
        grey = {k: z[k] for k in ("lpips_alex", "color_distance")}
    with np.load(run / "cache" / "combine-image__thick.npz") as z:
        method = {k: z[k] for k in ("lpips_alex", "color_distance")}
    copy = paired["COPY"]["lpips_alex"]  # COPY's LPIPS is 0: the difference is minus GREYFILL's, better everywhere
    assert copy["mean"] == pytest.approx(-grey["lpips_alex"].mean()) and copy["better"] == copy["n"] == 3
    assert copy["se"] == pytest.approx(grey["lpips_alex"].std(ddof=1) / np.sqrt(3))
    d = method["color_distance"] - grey["color_distance"]
    cd = paired["combine-image"]["color_distance"]
    assert cd["mean"] == pytest.approx(d.mean()) and cd["better"] == int((d < 0).sum())
    assert paired["COPY"]["prompt_accuracy"] is None  # no classifier in this run

    report(run, tmp_path / "across", against="GREYFILL", against_run=grey_run)
    across = {r["method"]: r for r in json.loads((tmp_path / "across" / "report.json").read_text())["paired"]}
    assert across.pop("GREYFILL")["lpips_alex"]["mean"] == 0  # the same outputs in both runs
    assert across == paired
    with pytest.raises(InpaintInputError, match="do not share their images and masks"):
        report(run, tmp_path / "refused", against="GREYFILL", against_run=other_masks)
    with pytest.raises(InpaintInputError, match="no row labelled 'RePaint'"):
        report(run, tmp_path / "refused", against="RePaint")


def test_a_reference_set_is_featurized_once_for_every_run(assets, tmp_path, monkeypatch):
    """FID reference features live in the user cache, named by the set's contents: a second run against the same
    folder reuses them, a changed file computes them again."""
    from inpaintkit.evaluation.report import reference_features

    class CountingInception:
        images = 0

        def batched(self, images, progress=False):
            self.images += len(images)
            return images.flatten(1)[:, :8].double().numpy()

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reference = tmp_path / "reference"
    reference.mkdir()
    for i in range(3):
        smooth_pil(24, 20, seed=10 + i).save(reference / f"ref{i}.png")
    inception = CountingInception()
    metrics = type("Metrics", (), {"inception": inception})()
    cfg = BenchConfig.from_dict(config(assets, fid_reference=[str(reference)]))
    first = reference_features(RunDir(tmp_path / "a"), cfg, [{"resolution": 32}], metrics)
    second = reference_features(RunDir(tmp_path / "b"), cfg, [{"resolution": 32}], metrics)
    assert inception.images == 3 and np.array_equal(first, second) and first.shape == (3, 8)
    smooth_pil(24, 20, seed=20).save(reference / "ref0.png")
    changed = reference_features(RunDir(tmp_path / "b"), cfg, [{"resolution": 32}], metrics)
    assert inception.images == 6 and not np.array_equal(changed, first)
    reference_features(RunDir(tmp_path / "b"), cfg, [{"resolution": 16}], metrics)  # another resolution
    assert inception.images == 9


def test_an_interrupted_featurization_resumes_from_its_finished_parts(tmp_path):
    """A large reference set is featurized part by part; a run killed midway keeps its finished parts, and the
    next call featurizes only the rest, to the same features as one uninterrupted call."""
    from inpaintkit.evaluation.fidstats import FeatureCache

    items = list(range(7))
    seen = []

    def featurize(part, fail_at=None):
        if fail_at in part:
            raise KeyboardInterrupt
        seen.extend(part)
        return np.array([[i, i / 3] for i in part], np.float64)  # i / 3: rounded when stored as float32

    cache = FeatureCache(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        cache.get_in_parts("set", {"k": 1}, items, lambda part: featurize(part, fail_at=5), part_size=2)
    assert seen == [0, 1, 2, 3]
    resumed = cache.get_in_parts("set", {"k": 1}, items, featurize, part_size=2)
    assert seen == [0, 1, 2, 3, 4, 5, 6] and not list((tmp_path / "a").glob("*.partial.npz"))
    whole = FeatureCache(tmp_path / "b").get_in_parts("set", {"k": 1}, items, featurize, part_size=3)
    assert np.array_equal(resumed, whole) and resumed.shape == (7, 2) and resumed.dtype == np.float64
    assert np.array_equal(cache.get_in_parts("set", {"k": 1}, items, None), whole)  # kept: nothing featurized


def test_cli_bench_resumes_and_rejects_bad_flags(assets, reference_run, tmp_path):
    from typer.testing import CliRunner

    from inpaintkit.app.cli import app

    args = ["bench", "--out", str(tmp_path / "cli"), "--method", "copy", "--method", "greyfill", "--method",
            "combine-image", "--set", "combine-image.steps=3", "--model", str(assets / "model"), "--images",
            str(assets / "images"), "--masks", "box-random", "--masks", "thick", "--seed", "0", "--seed", "1",
            "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    single, _ = reference_run  # the same settings as the reference run, given as flags
    assert comparable(tmp_path / "cli" / "manifest.jsonl") == comparable(single / "manifest.jsonl")
    assert CliRunner().invoke(app, args).exit_code == 0  # a finished run: nothing to do
    bad = CliRunner().invoke(app, args[:3] + ["--set", "copy.steps=3", "--images", str(assets / "images")])
    assert bad.exit_code == 1 and "error:" in bad.output
    lonely = CliRunner().invoke(app, ["report", str(tmp_path / "cli"), "--against-run", str(single)])
    assert lonely.exit_code == 1 and "--against-run needs --against" in lonely.output


def test_latent_copy_row_is_the_autoencoder_round_trip_in_the_hole(latent_model, pixel_model):
    import torch

    from inpaintkit.api import Inpainter
    from inpaintkit.evaluation.bench import run_batch
    from inpaintkit.evaluation.config import Item, MethodSpec

    spec = MethodSpec("latent-copy")
    assert spec.label == "LATENT-COPY" and spec.needs_model and spec.resolved_options() == {}
    item = Item("LATENT-COPY/thick/a/s0", spec, 0, "a", "thick", 0)
    gt = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    result = run_batch([item, item], gt, mask, Inpainter(latent_model, device="cpu"))
    out = result.outputs
    with torch.no_grad():
        roundtrip = latent_model.decode(latent_model.encode(gt))
    hole = mask.bool().expand_as(gt)
    assert torch.equal(out[~hole], gt[~hole]) and torch.allclose(out[hole], roundtrip[hole], atol=1e-6)
    assert torch.allclose(result.before_paste, roundtrip, atol=1e-6)
    assert (out[hole] - gt[hole]).abs().mean() > 0.01 and result.calls == result.backward_calls == 0
    with pytest.raises(InpaintInputError, match="latent model"):
        run_batch([item], gt[:1], mask[:1], Inpainter(pixel_model, device="cpu"))


@pytest.mark.parametrize("mistake", ["masks", "images", "model"])
def test_a_failed_run_leaves_its_folder_usable(assets, tmp_path, mistake):
    """A run refused for a bad mask set, a missing image folder or a model that cannot load leaves no
    config behind that would block the corrected rerun."""
    bad = {"masks": {"masks": ["thikc"]}, "images": {"images": [str(tmp_path / "nowhere")]},
           "model": {"model": str(tmp_path / "no-model")}}[mistake]
    out = tmp_path / "run"
    with pytest.raises(InpaintInputError):
        run_bench(BenchConfig.from_dict(config(assets, **{"seeds": [0], "masks": ["thick"], **bad})), out,
                  progress=False)
    assert not (out / "config.json").exists()
    fixed = run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"])), out, progress=False)
    assert fixed == out / "manifest.jsonl"


def test_a_recorded_config_without_outputs_is_replaced(assets, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(config(assets, masks=["medium"])))  # a run killed before its first image
    assert run_bench(BenchConfig.from_dict(config(assets, seeds=[0], masks=["thick"])), out, progress=False)
    assert json.loads((out / "config.json").read_text())["masks"] == ["thick"]


def test_several_completions_per_image(assets, tmp_path):
    """``samples``: k completions per image and seed; VIPaint draws them from one fit per image (its fit and
    sampling seconds recorded apart), other methods from k seeds; a rerun after a partial run completes it."""
    vip = {"name": "vipaint", "options": {"iterations": 1, "mc_samples": 1, "steps": 2}}
    cfg = config(assets, methods=[vip, {"name": "combine-image", "options": {"steps": 2}}], seeds=[0],
                 masks=["thick"], samples=2, batch_size=2)
    out = tmp_path / "run"
    manifest = run_bench(BenchConfig.from_dict(cfg), out, progress=False)
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(entries) == 2 * 3 * 2 and {e["completion"] for e in entries} == {0, 1}
    for label in ("vipaint", "combine-image"):
        first, second = (Image.open(out / e["output"]) for e in entries if e["label"] == label
                         and e["gt"].endswith("img0.png"))
        assert not np.array_equal(np.asarray(first), np.asarray(second))
    vipaint = [e for e in entries if e["label"] == "vipaint"]
    assert all(e["fit_seconds"] > 0 and e["sample_seconds"] > 0 for e in vipaint)
    again = tmp_path / "again"  # killed after one completion: the rerun redoes the image's fit, same files
    partial = run_bench(BenchConfig.from_dict(cfg), again, progress=False)
    lines = partial.read_text().splitlines()
    for path in (again / "manifest.jsonl", *again.glob("manifest.rank*.jsonl")):
        path.unlink()
    (again / "manifest.rank0.jsonl").write_text("\n".join(lines[:1]) + "\n")
    assert comparable(run_bench(BenchConfig.from_dict(cfg), again, progress=False)) == comparable(manifest)
