"""Text generators for the data steps: a local causal LM and an OpenAI-compatible HTTP server."""

from __future__ import annotations

from sbert_med.data.llm.base import GenerationFailure, LLMGenerator, Messages
from sbert_med.data.llm.openai_generator import OpenAICompatibleGenerator
from sbert_med.data.llm.transformers_generator import TransformersGenerator

__all__ = ["GenerationFailure", "LLMGenerator", "Messages", "OpenAICompatibleGenerator", "TransformersGenerator"]
