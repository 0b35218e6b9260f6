"""sbert_med: medical text embedding models on sentence-transformers.

Builders, losses, recipes, data steps, evaluation and publishing for the model families of MedEmbed, MedEIR,
MAR (asymmetric retrieval) and CardioEmbed. Every model it produces loads with plain
``SentenceTransformer(path_or_hub_id)``.
"""

from __future__ import annotations

__version__ = "0.1.0"
