"""``STSEvaluator``: sentence-transformers' ``EmbeddingSimilarityEvaluator`` with the prompt MTEB uses for STS."""

from __future__ import annotations

from typing import Any

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator


class STSEvaluator(EmbeddingSimilarityEvaluator):
    """Spearman / Pearson correlation of the cosine similarity of each pair with its gold score.

    sentence-transformers' ``EmbeddingSimilarityEvaluator`` (metric names ``{name}_spearman_cosine``, CSV,
    ``primary_metric``, usable as a trainer's ``evaluator=``) plus ``prompt``: both sentences are encoded with
    ``model.encode(prompt=...)``, which is how MTEB encodes STS tasks such as BIOSSES (see
    :func:`sbert_med.evaluation.sts.sts_prompt`); a Router model uses its default route.

    Args:
        sentences1 / sentences2 / scores: The pairs and their gold scores.
        prompt: Prompt prepended to every sentence (``None``: no prompt).
        name: Metric prefix.
        batch_size / show_progress_bar / write_csv / truncate_dim: As in ``EmbeddingSimilarityEvaluator``.
    """

    def __init__(
        self, sentences1: list[str], sentences2: list[str], scores: list[float], *, prompt: str | None = None,
        name: str = "", batch_size: int = 32, show_progress_bar: bool = False, write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(sentences1, sentences2, scores, batch_size=batch_size, main_similarity="cosine",
                         similarity_fn_names=["cosine"], name=name, show_progress_bar=show_progress_bar,
                         write_csv=write_csv, truncate_dim=truncate_dim)
        self.prompt = prompt

    def embed_inputs(self, model: Any, sentences: str | list[str] | np.ndarray, **kwargs: Any) -> np.ndarray:
        return super().embed_inputs(model, sentences, prompt=self.prompt, **kwargs)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        if self.prompt is not None:
            config["prompt"] = self.prompt
        return config
