"""What a benchmark run is: the methods (rows), image folders, mask sets and seeds, and its work list.

A config comes from a preset (:data:`PRESETS`), then a YAML/JSON file, then flags
(:func:`build_config`). :meth:`BenchConfig.check` validates everything that can be checked without
loading a model (methods and their options, mask sets, that the image folders exist), so a mistake is
refused before the run folder is touched.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..api import DEFAULT_MODEL
from ..core.errors import InpaintInputError
from ..core.options import parse_assignments
from ..data.images import CELEBA_CROP, class_prompt, list_images
from ..data.masks import check_mask_set
from ..methods import get_method, make_options
from ..models.catalog import shipped_folder
from ..models.precision import PRECISIONS

REFERENCE_ROWS = {"copy": "COPY", "greyfill": "GREYFILL", "latent-copy": "LATENT-COPY"}
CLASS_PROMPTS = ("true-class", "other-class")
DEFAULT_RESOLUTION = 256  # for runs of classical methods only (no model to take the resolution from)


@dataclass
class MethodSpec:
    """A method to run: a registered name or a reference row, its options, and its column label."""

    name: str
    options: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        self.label = self.label or REFERENCE_ROWS.get(self.name, self.name)

    @property
    def is_reference(self) -> bool:
        return self.name in REFERENCE_ROWS

    @property
    def needs_model(self) -> bool:
        return self.name == "latent-copy" or not self.is_reference and get_method(self.name).needs_model

    def resolved_options(self) -> dict:
        return {} if self.is_reference else dataclasses.asdict(make_options(self.name, self.options))


@dataclass
class BenchConfig:
    methods: list[MethodSpec]
    images: list[str]  # folders (or data: paths), concatenated in order, each sorted by file name
    masks: list[str] = field(default_factory=lambda: ["thick"])
    model: str | None = DEFAULT_MODEL  # needed only by diffusion methods
    n_images: int | None = None  # the first n images; None: all
    seeds: list[int] = field(default_factory=lambda: [0])
    mask_seed: int = 0
    resolution: int | None = None  # None: the model's resolution
    crop: int | None = None  # central square cut before resizing; None: the largest one
    fid_reference: list[str] | None = None  # FID/KID reference folders (same preparation); None: the ground truth
    device: str = "auto"
    batch_size: int = 1  # images of one method, mask set and seed inpainted together (same noise as alone)
    precision: str = "fp32"  # of the networks: fp32, bf16 or auto (inpaintkit.models.precision)
    samples: int = 1  # completions per image and seed (VIPaint's protocol: LPIPS is their mean, diversity their spread)
    # text-conditioned models: "true-class" (each image's class, the name of the folder it is in), "other-class"
    # (another class, fixed per image), or one prompt for every image; None: no prompt
    prompts: str | None = None
    prompt_template: str = "a photo of {article} {name}"
    prompt_classifier: str | None = None  # a classifier folder (train-classifier): the report's prompt accuracy

    @classmethod
    def from_dict(cls, d: dict) -> "BenchConfig":
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InpaintInputError(f"unknown bench setting(s): {', '.join(unknown)}")
        d["methods"] = [MethodSpec(m) if isinstance(m, str) else MethodSpec(**m) for m in d.get("methods", [])]
        for key in ("images", "masks", "seeds", "fid_reference"):
            if isinstance(d.get(key), (str, int)):
                d[key] = [d[key]]
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Everything that can be refused before a model loads or a file is written."""
        if not self.methods:
            raise InpaintInputError("bench needs at least one method")
        if self.batch_size < 1:
            raise InpaintInputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise InpaintInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.samples < 1:
            raise InpaintInputError(f"samples must be >= 1, got {self.samples}")
        if self.n_images is not None and self.n_images < 1:
            raise InpaintInputError(f"n_images must be >= 1, got {self.n_images}")
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            raise InpaintInputError(f"method labels must be unique, got {labels}")
        for m in self.methods:
            if not m.is_reference:
                m.resolved_options()  # unknown method or option: fail before any work
        if not self.masks:
            raise InpaintInputError("bench needs at least one mask set")
        for name in self.masks:
            check_mask_set(name)
        if not self.images:
            raise InpaintInputError("bench needs at least one image folder")
        paths = image_paths(self)
        if self.prompts in CLASS_PROMPTS and len({p.parent.name for p in paths}) < 2:
            raise InpaintInputError(f"prompts: {self.prompts} needs images in two or more class folders (the folder "
                                    "names are the classes)")
        classifier = shipped_folder(self.prompt_classifier) if self.prompt_classifier is not None else None
        if classifier is not None and not (classifier / "classifier.json").is_file():
            raise InpaintInputError(f"prompt_classifier: no classifier.json in {self.prompt_classifier}")
        for folder in self.fid_reference or []:
            list_images(folder)


HELD_OUT_FACES = ["data:celeba/test", "data:celeba/validation"]
# The project's standard table: the held-out faces (CelebA test + validation, 1,199), thick masks,
# fixed seeds, at the face model's resolution after CelebA's central 140x140 crop.
PRESETS: dict[str, dict] = {
    "faces-thick": dict(
        methods=["copy", "greyfill", "opencv-telea", "combine-image", "combine-noisy"],
        images=HELD_OUT_FACES, masks=["thick"], model=DEFAULT_MODEL, n_images=None, seeds=[0], mask_seed=0,
        crop=CELEBA_CROP, fid_reference=HELD_OUT_FACES,
    ),
}


def load_config_file(path: str | Path) -> dict:
    """A YAML (.yaml/.yml) or JSON config file as a dict of :class:`BenchConfig` fields."""
    path = Path(path)
    if not path.is_file():
        raise InpaintInputError(f"config file not found: {path}")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text())
        else:
            data = json.loads(path.read_text())
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        raise InpaintInputError(f"{path} is not valid {path.suffix[1:].upper() or 'JSON'}: {e}") from None
    if not isinstance(data, dict):
        raise InpaintInputError(f"{path}: expected a mapping of bench settings")
    return data


def build_config(config_file: str | None = None, preset: str | None = None, **overrides) -> BenchConfig:
    """A config from a preset, then a config file, then explicit settings (None = not given)."""
    data: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise InpaintInputError(f"unknown preset {preset!r}; available: {', '.join(PRESETS)}")
        data.update(PRESETS[preset])
    if config_file is not None:
        data.update(load_config_file(config_file))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return BenchConfig.from_dict(data)


def parse_method_settings(methods: list[str], settings: list[str]) -> list[dict]:
    """``--method NAME`` flags and ``--set NAME.KEY=VALUE`` flags as method entries."""
    options: dict[str, dict] = {m: {} for m in methods}
    for target, value in parse_assignments(settings).items():
        name, dot, key = target.partition(".")
        if not dot or name.replace("_", "-") not in options:
            raise InpaintInputError(f"--set expects METHOD.KEY=VALUE for a --method given, got {target}={value}")
        options[name.replace("_", "-")][key] = value
    return [{"name": m, "options": options[m]} for m in methods]


# -- the work list ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    key: str
    method: MethodSpec
    image_index: int
    stem: str
    mask_set: str
    seed: int
    completion: int = 0  # k of the run's ``samples`` completions of this image and seed
    completions: int = 1

    @property
    def sample_seed(self) -> int:
        """The seed of this completion: the k-th of the image's ``derived_seed(seed, image)`` stream."""
        base = derived_seed(self.seed, self.image_index)
        return base if self.completion == 0 else derived_seed(self.seed, self.image_index, self.completion)


def derived_seed(*parts: int) -> int:
    """A 31-bit seed from integers (numpy's SeedSequence: independent streams for each tuple)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


def image_paths(cfg: BenchConfig) -> list[Path]:
    paths = [p for folder in cfg.images for p in list_images(folder)]
    paths = paths[:cfg.n_images] if cfg.n_images is not None else paths
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InpaintInputError("image file names must be unique across the image folders")
    if not paths:
        raise InpaintInputError(f"no images in {', '.join(cfg.images)}")
    return paths


def work_items(cfg: BenchConfig, paths: list[Path]) -> list[Item]:
    """Every output of the run, in a fixed order (mask set, image, seed, method, completion)."""
    def key(m, mask_set, p, seed, k):
        return f"{m.label}/{mask_set}/{p.stem}/s{seed}" + (f"/k{k}" if cfg.samples > 1 else "")

    return [Item(key(m, mask_set, p, seed, k), m, i, p.stem, mask_set, seed, k, cfg.samples)
            for mask_set in cfg.masks for i, p in enumerate(paths) for seed in cfg.seeds for m in cfg.methods
            for k in range(cfg.samples)]


def image_prompts(cfg: BenchConfig, paths: list[Path]) -> list[str | None]:
    """Each image's prompt (:attr:`BenchConfig.prompts`): its class (the folder it is in), another class (drawn
    once per image from the mask seed), or the one prompt given."""
    if cfg.prompts not in CLASS_PROMPTS:
        return [cfg.prompts] * len(paths)
    classes = sorted({p.parent.name for p in paths})
    names = []
    for i, p in enumerate(paths):
        c = classes.index(p.parent.name)
        if cfg.prompts == "other-class":
            c = (c + 1 + derived_seed(cfg.mask_seed, i, 1) % (len(classes) - 1)) % len(classes)
        names.append(class_prompt(classes[c], cfg.prompt_template))
    return names
