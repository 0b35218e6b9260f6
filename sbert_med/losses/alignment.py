"""MAR stage I: align the query tower to a frozen document tower on the same texts (InfoNCE + scaled MSE)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from peft import PeftModel
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from sbert_med.losses.length_buckets import embed_in_length_buckets
from sbert_med.modules.asymmetric import common_width
from sbert_med.modules.routes import get_router, get_routes, route_transformer

logger = logging.getLogger(__name__)


class AlignmentLoss(nn.Module):
    def __init__(
        self,
        model: SentenceTransformer,
        lambda_contrastive: float = 1.0,
        lambda_mse: float = 1.0,
        temperature: float = 0.1,
        matryoshka_dims: Sequence[int] | None = None,
        teacher: SentenceTransformer | None = None,
        negative_bank: Tensor | None = None,
        length_buckets: int = 4,
        score_bank: Tensor | None = None,
        lambda_scores: float = 1.0,
        score_temperature: float = 0.05,
    ) -> None:
        """
        Stage I of MAR: the same text goes through the query tower (trained) and the frozen document tower (the
        target); the query embedding is pulled onto the document embedding of its own text by an InfoNCE term over
        the batch's self-pairs plus an MSE term between the normalised embeddings. The MSE is summed over the
        embedding dimensions (``dim`` x the element-wise mean, i.e. ``2 - 2 cos``), so it is on the scale of the
        contrastive term instead of ~1/dim of it and neither term drowns the other.

        The frozen target, embedded under ``torch.no_grad`` and in eval mode, comes from the first of:

        1. a ``label`` column of precomputed document vectors (then give one text column, routed to the query):
           shape ``(B, D)``, one target per text (MAR Stage I from a target cache), or ``(B, K, D)``, K candidate
           documents per query with the positive at ``k = 0`` and hard negatives after it (MAR Stage II with a
           frozen document tower): the contrastive term then ranks each query's positive among all ``B * K``
           candidates of the batch (in-batch and hard negatives, Asym-InfoNCE), candidates equal to the query's
           own positive (the same document in another row) are masked out, and the MSE term pulls the query onto
           its positive;
        2. ``teacher``, a separate frozen model (it must share the document tower's tokenizer);
        3. the model's own document route with its LoRA adapters disabled, when the tower carries LoRA;
        4. the model's own document route as it is (exact while that tower does not train).

        The document tower receives no gradient from this loss, so its weights stay bit-identical.

        ``negative_bank``: fixed document vectors (``(N, D)``, e.g. the cached targets of every alignment text)
        ranked as extra negatives after the batch's candidates in the contrastive term. A frozen tower's vectors never
        change, so a bank of N stands in for a batch of N negatives at no encoder cost (the paper's Stage I batch is
        2,560). Bank rows equal to a query's own positive are masked out, like duplicates in the batch.

        ``score_bank``: fixed document vectors (``(N, D)``, e.g. the frozen tower's vectors of training documents) the
        query is scored against like its target is: a third term, weighted by ``lambda_scores``, is the KL divergence
        from the softmax of the target's scores over the bank (at ``score_temperature``) to the softmax of the
        query's. It distils how the document tower *ranks documents* for the text rather than where its vector lies,
        so the query tower's limited capacity goes to the directions that separate documents (EmbedDistill's score
        matching beside embedding matching, Kim et al. 2023; ours in MAR, whose paper aligns embeddings only).

        ``length_buckets``: the text columns are embedded in that many slices of similar length
        (:func:`~sbert_med.losses.length_buckets.embed_in_length_buckets`), each cut to its own longest text, so short
        texts stop paying for a long one's padding; the embeddings, in-batch negatives and gradients are those of one
        pass (right-padded batches only; others are embedded in one piece).

        Matryoshka-aware: for every ``matryoshka_dims`` entry both sides are truncated **and re-normalised**
        before both terms (the built-in ``MatryoshkaLoss`` only slices embedding labels). A ``truncate_dim``
        bridge is applied first.

        Args:
            model: The asymmetric model (query and document routes).
            lambda_contrastive: Weight of the InfoNCE term (MAR: 1).
            lambda_mse: Weight of the dimension-scaled MSE term (MAR: 1).
            temperature: Softmax temperature of the InfoNCE term (MAR: ~0.1).
            matryoshka_dims: Widths to align at, e.g. ``[384, 256, 128]``; ``None``: the full common width.
            teacher: A frozen model producing the targets instead of the model's own document route.
            negative_bank: Fixed document vectors used as extra negatives of every query (``None``: in-batch only).
            length_buckets: Slices of similar length each text column is embedded in (ours: 4; ``1``: one pass).
            score_bank: Fixed document vectors whose ranking of each target the query learns (``None``: no term).
            lambda_scores: Weight of the score-distillation term (ours: 1, the other terms' weight).
            score_temperature: Softmax temperature of both rankings over ``score_bank`` (ours: 0.05).

        References:
            - MAR / CARE, asymmetric retrieval with an aligned small query encoder (stage I "alignment").
            - Matryoshka Representation Learning: https://arxiv.org/abs/2205.13147
            - EmbedDistill (score matching over documents): https://arxiv.org/abs/2301.12005

        Requirements:
            1. A Router model whose document route is frozen (``freeze_route``), carries LoRA, or is replaced by
               ``teacher``/precomputed labels.
            2. ``router_mapping`` sending the first column to ``query`` and the second to ``document``.

        Inputs:
            +-----------------------------------+---------------------------+
            | Texts                             | Labels                    |
            +===================================+===========================+
            | (query_text, document_text) pairs | none                      |
            +-----------------------------------+---------------------------+
            | (text,)                           | document vector, shape D  |
            +-----------------------------------+---------------------------+
            | (query_text,)                     | K document vectors,       |
            |                                   | shape (K, D), positive 1st|
            +-----------------------------------+---------------------------+

        Recommendations:
            - Feed both queries and documents as self-pairs ``(text, text)``, as MAR does.
            - Use column names that do not prefix each other (``q_text``/``d_text``, not ``text``/``text_doc``).

        Relations:
            - :class:`AsymInfoNCELoss` is the stage-II (joint) loss that follows.
            - ``MSELoss`` with precomputed labels is the MSE term alone, without re-normalisation at lower dims.

        Example:
            ::

                from datasets import Dataset
                from sentence_transformers import SentenceTransformerTrainingArguments
                from sbert_med.losses import AlignmentLoss
                from sbert_med.modules import build_asymmetric_model, freeze_route
                from sbert_med.training import MedTrainer

                model = build_asymmetric_model("sentence-transformers/all-MiniLM-L6-v2", "HuggingFaceTB/SmolLM2-135M")
                freeze_route(model, "document")
                texts = ["What lowers blood pressure?", "Metformin is the first-line drug for type 2 diabetes."]
                train_dataset = Dataset.from_dict({"q_text": texts, "d_text": texts})
                args = SentenceTransformerTrainingArguments(
                    output_dir="out", router_mapping={"q_text": "query", "d_text": "document"}
                )
                loss = AlignmentLoss(model, matryoshka_dims=[384, 256, 128])
                MedTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss).train()
        """
        super().__init__()
        if temperature <= 0 or score_temperature <= 0:
            raise ValueError(f"temperatures must be > 0, got {temperature!r} and score {score_temperature!r}")
        scored = lambda_scores if score_bank is not None else 0.0
        if min(lambda_contrastive, lambda_mse, lambda_scores) < 0 or lambda_contrastive + lambda_mse + scored == 0:
            raise ValueError(
                "lambda_contrastive, lambda_mse and lambda_scores must be >= 0 and not all 0 (lambda_scores counts "
                f"with a score_bank only), got {lambda_contrastive!r}, {lambda_mse!r}, {lambda_scores!r}"
            )
        if matryoshka_dims is not None:
            matryoshka_dims = sorted({int(dim) for dim in matryoshka_dims}, reverse=True)
            if not matryoshka_dims or matryoshka_dims[-1] <= 0:
                raise ValueError(f"matryoshka_dims must be positive integers, got {matryoshka_dims!r}")
            width = model.truncate_dim or model.get_embedding_dimension()
            if width is not None and matryoshka_dims[0] > width:
                raise ValueError(f"matryoshka_dims must be <= the model's output width {width}, got {matryoshka_dims}")
        self.model = model
        self.lambda_contrastive = lambda_contrastive
        self.lambda_mse = lambda_mse
        self.temperature = temperature
        self.matryoshka_dims = matryoshka_dims
        self.teacher = teacher
        self.negative_bank = _as_bank(negative_bank, "negative_bank")
        self.score_bank = _as_bank(score_bank, "score_bank")
        self.lambda_scores = lambda_scores
        self.score_temperature = score_temperature
        if int(length_buckets) < 1:
            raise ValueError(f"length_buckets must be >= 1, got {length_buckets!r}")
        self.length_buckets = int(length_buckets)
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    @contextlib.contextmanager
    def _frozen_target_route(self, task: str | None) -> Iterator[None]:
        """Eval mode and disabled LoRA adapters on the route that embeds the targets, restored afterwards."""
        routes = get_routes(self.model)
        router = get_router(self.model)
        name = task if router is not None and task in routes else (router.default_route if router else None)
        modules = routes.get(name) if name is not None else list(self.model)
        if modules is None:
            raise ValueError(f"the document column is routed to {task!r}, which is not a route of the model")
        container = modules if isinstance(modules, nn.Module) else nn.ModuleList(modules)
        was_training = container.training
        transformer = route_transformer(modules)
        adapters = (
            transformer.model.disable_adapter()
            if transformer is not None and isinstance(transformer.model, PeftModel)
            else contextlib.nullcontext()
        )
        container.eval()
        try:
            with adapters:
                yield
        finally:
            container.train(was_training)

    def _targets(self, features: list[dict[str, Tensor]], labels: Tensor | None, buckets: int | None = None) -> Tensor:
        """The frozen targets of the batch (see the class docstring); live ones embedded in ``buckets`` length buckets
        (``None``: ``length_buckets``)."""
        if isinstance(labels, Tensor) and labels.is_floating_point() and labels.ndim in (2, 3):
            if len(features) != 1:
                raise ValueError(
                    "with a 'label' column of target vectors, AlignmentLoss takes one text column, "
                    f"got {len(features)}"
                )
            return labels
        if isinstance(labels, Tensor) and labels.is_floating_point():
            raise ValueError(f"'label' target vectors must have shape (B, D) or (B, K, D), got {tuple(labels.shape)}")
        if len(features) != 2:
            raise ValueError(
                "AlignmentLoss needs (query_text, document_text) columns or one text column plus a 'label' column of "
                f"document vectors, got {len(features)} column(s)"
            )
        with torch.no_grad():
            if self.teacher is not None:
                return embed_in_length_buckets(self.teacher, features[1], self.length_buckets)
            with self._frozen_target_route(features[1].get("task")):
                return embed_in_length_buckets(self.model, features[1], buckets or self.length_buckets)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor] | Tensor:
        features = list(sentence_features)
        # a wrapping loss that replaced the model's forward (MatryoshkaLoss) expects one call per column
        buckets = 1 if "forward" in vars(self.model) else self.length_buckets
        queries = embed_in_length_buckets(self.model, features[0], buckets)
        targets = self._targets(features, labels, buckets).detach().to(queries.dtype)
        candidates = targets.shape[1] if targets.ndim == 3 else 1
        if targets.ndim == 3 and targets.shape[0] != queries.shape[0]:
            raise ValueError(f"{queries.shape[0]} queries but {targets.shape[0]} rows of target vectors")
        flat = targets.reshape(-1, targets.shape[-1])  # (B * K, D): row i's positive at i * K
        queries, flat = common_width([queries, flat], getattr(self.model, "truncate_dim", None))
        if queries.shape[-1] != flat.shape[-1]:
            raise ValueError(f"query width {queries.shape[-1]} != target width {flat.shape[-1]}")
        dims = self.matryoshka_dims or [queries.shape[-1]]
        contrastive = mse = distilled = queries.new_zeros(())
        positives = torch.arange(queries.shape[0], device=queries.device) * candidates
        bank = self._bank(queries, "negative_bank")
        score_bank = self._bank(queries, "score_bank")
        for dim in dims:
            q = F.normalize(queries[:, :dim], p=2, dim=-1)
            t = F.normalize(flat[:, :dim], p=2, dim=-1)
            scores = q @ t.T / self.temperature
            if candidates > 1:
                # another row's copy of a query's own positive is not a negative of that query
                same = (t[positives] @ t.T) > 1 - 1e-6
                same[torch.arange(len(positives), device=same.device), positives] = False
                scores = scores.masked_fill(same, float("-inf"))
            if bank is not None:
                b = F.normalize(bank[:, :dim], p=2, dim=-1)
                extra = (q @ b.T / self.temperature).masked_fill((t[positives] @ b.T) > 1 - 1e-6, float("-inf"))
                scores = torch.cat([scores, extra], dim=1)
            contrastive = contrastive + F.cross_entropy(scores, positives)
            mse = mse + (q - t[positives]).pow(2).sum(dim=-1).mean()
            if score_bank is not None:
                documents = F.normalize(score_bank[:, :dim], p=2, dim=-1).T / self.score_temperature
                teacher = F.log_softmax(t[positives] @ documents, dim=-1)
                student = F.log_softmax(q @ documents, dim=-1)
                distilled = distilled + F.kl_div(student, teacher, reduction="batchmean", log_target=True)
        components = {
            "alignment_contrastive": self.lambda_contrastive * contrastive / len(dims),
            "alignment_mse": self.lambda_mse * mse / len(dims),
        }
        if score_bank is not None:
            components["alignment_scores"] = self.lambda_scores * distilled / len(dims)
        if "forward" in vars(self.model):
            # A wrapping loss has replaced the model's forward for this call (MatryoshkaLoss does, to truncate the
            # embeddings) and adds up plain tensors: return the sum instead of the named components.
            return sum(components.values())
        return components

    def _bank(self, queries: Tensor, name: str) -> Tensor | None:
        """The bank ``name`` on the queries' device and dtype (moved once, then reused), cut to their width."""
        bank = getattr(self, name)
        if bank is None:
            return None
        if bank.shape[-1] < queries.shape[-1]:
            raise ValueError(f"{name} width {bank.shape[-1]} < query width {queries.shape[-1]}")
        if bank.device != queries.device or bank.dtype != queries.dtype:
            bank = bank.to(queries.device, queries.dtype)
            setattr(self, name, bank)
        return bank[:, : queries.shape[-1]]

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "lambda_contrastive": self.lambda_contrastive,
            "lambda_mse": self.lambda_mse,
            "temperature": self.temperature,
            "matryoshka_dims": self.matryoshka_dims,
            "teacher": None if self.teacher is None else type(self.teacher).__name__,
            "negative_bank": None if self.negative_bank is None else len(self.negative_bank),
            "length_buckets": self.length_buckets,
            **(
                {}
                if self.score_bank is None
                else {
                    "score_bank": len(self.score_bank),
                    "lambda_scores": self.lambda_scores,
                    "score_temperature": self.score_temperature,
                }
            ),
        }

    @property
    def citation(self) -> str:
        return """
@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha
        and Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain
        and Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


def _as_bank(vectors, name: str) -> Tensor | None:
    """Fixed vectors of a bank as a detached float ``(N, D)`` tensor with N > 0, or ``None``."""
    if vectors is None:
        return None
    vectors = torch.as_tensor(vectors).detach().float()
    if vectors.ndim != 2 or not len(vectors):
        raise ValueError(f"{name} must have shape (N, D) with N > 0, got {tuple(vectors.shape)}")
    return vectors
