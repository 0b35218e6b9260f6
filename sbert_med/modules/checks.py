"""``check_model``: a pooling / EOS / padding / width self-check to run before a model is saved or pushed."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling
from sentence_transformers.util.tensor import batch_to_device

from sbert_med.modules.eos import appends_eos
from sbert_med.modules.routes import get_router, get_routes, output_widths, route_transformer

logger = logging.getLogger(__name__)

#: Texts of very different lengths, so that a batch is padded.
PROBE_TEXTS = [
    "Fever.",
    "What is the first-line treatment for uncomplicated hypertension in adults?",
    "Acute myocardial infarction typically presents with crushing retrosternal chest pain radiating to the left arm "
    "or jaw, diaphoresis, nausea and dyspnoea; an ECG and serial troponins confirm the diagnosis.",
]
#: Two unrelated sentences of the same length: a working model embeds them apart, a degenerate one (a tokenizer
#: that maps every word to the unknown token, a collapsed model) gives them the same vector.
PROBE_PAIR = (
    "Warfarin therapy requires regular INR monitoring in atrial fibrillation.",
    "Tomorrow the orchestra performs Beethoven symphonies downtown at eight.",
)
BATCH_COSINE_MIN = 0.9999
#: Largest difference of any component at which the probe pair's unit vectors count as one vector (ours: float32
#: noise of identical inputs; even a random 2-layer BERT's CLS vectors differ by ~1e-3).
IDENTICAL_ATOL = 1e-6
#: Largest share of the probe's word pieces that may be the unknown token (ours: a real vocabulary has ~0).
UNKNOWN_TOKEN_MAX = 0.5
NORM_TOLERANCE = 1e-3


@dataclass
class CheckResult:
    """One check on one route."""

    route: str
    name: str
    passed: bool
    detail: str


@dataclass
class ModelCheckReport:
    """All checks of :func:`check_model`; ``passed`` is true when none failed."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if not result.passed]

    def add(self, route: str, name: str, passed: bool, detail: str) -> None:
        self.results.append(CheckResult(route, name, bool(passed), detail))

    def __str__(self) -> str:
        lines = [f"model check: {'passed' if self.passed else f'{len(self.failures)} check(s) failed'}"]
        for result in self.results:
            lines.append(f"  [{'ok' if result.passed else 'FAIL'}] {result.route}: {result.name} - {result.detail}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "results": [dataclasses.asdict(result) for result in self.results]}

    def raise_for_failures(self) -> None:
        """Raise ``ValueError`` listing every failed check."""
        if not self.passed:
            raise ValueError(str(self))


@torch.no_grad()
def _embed(model: SentenceTransformer, texts: list[str], route: str | None) -> torch.Tensor:
    """Raw forward of ``texts`` through one route: no prompt, no truncate_dim."""
    kwargs = {} if route is None else {"task": route}
    features = batch_to_device(model.preprocess(texts, **kwargs), model.device)
    return model(features)["sentence_embedding"].float()


def _check_eos(report: ModelCheckReport, model: SentenceTransformer, route: str, task: str | None) -> None:
    transformer = route_transformer(get_routes(model)[route])
    tokenizer = transformer.tokenizer
    eos_id = tokenizer.eos_token_id
    kwargs = {} if task is None else {"task": task}
    features = model.preprocess(PROBE_TEXTS, **kwargs)
    mask = features["attention_mask"]
    positions = mask.shape[1] - 1 - mask.flip(1).int().argmax(dim=1)
    last_ids = features["input_ids"].gather(1, positions.unsqueeze(1)).squeeze(1).tolist()
    in_batch = eos_id is not None and all(token == eos_id for token in last_ids)
    truncated = appends_eos(tokenizer)
    report.add(
        route, "eos_last", in_batch and truncated,
        f"last attended token is EOS ({tokenizer.eos_token!r}) in a padded batch: {in_batch}; after truncation: "
        f"{truncated}" + ("" if in_batch and truncated else " -> the tokenizer drops EOS; use eos_tower()"),
    )


def _check_tokenizer(report: ModelCheckReport, route: str, tokenizer) -> None:
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:  # byte-level tokenizers have no unknown token: every text is representable
        report.add(route, "tokenizer", True, "no unknown token (byte-level)")
        return
    special = set(getattr(tokenizer, "all_special_ids", []) or []) - {unk}
    ids = [i for text in PROBE_PAIR for i in tokenizer(text, add_special_tokens=False)["input_ids"]
           if i not in special]
    share = sum(i == unk for i in ids) / max(len(ids), 1)
    report.add(
        route, "tokenizer", bool(ids) and share <= UNKNOWN_TOKEN_MAX,
        f"{share:.0%} of the probe's {len(ids)} tokens are {tokenizer.unk_token!r}"
        + (" -> the tokenizer files are missing or do not belong to this model" if share > UNKNOWN_TOKEN_MAX else ""),
    )


def _check_distinct(report: ModelCheckReport, model: SentenceTransformer, route: str, task: str | None) -> None:
    vectors = F.normalize(_embed(model, list(PROBE_PAIR), task), dim=-1)
    difference = (vectors[0] - vectors[1]).abs().max().item()
    cosine = F.cosine_similarity(vectors[:1], vectors[1:], dim=-1).item()
    identical = difference <= IDENTICAL_ATOL
    report.add(
        route, "distinct_embeddings", not identical,
        f"cosine of two unrelated sentences = {cosine:.6f} (largest difference {difference:.2g})"
        + (" -> the model gives unrelated texts the same embedding" if identical else ""),
    )


def check_model(model: SentenceTransformer, strict: bool = False) -> ModelCheckReport:
    """Check every route of ``model`` before it is saved or pushed.

    For every route (``query``/``document`` of a Router, ``default`` for a symmetric model):

    * ``eos_last``: towers with last-token pooling really end every text with EOS, in a padded batch and after
      truncation;
    * ``pad_token``: the tokenizer can pad;
    * ``tokenizer``: at most half of a medical probe sentence pair tokenizes to the unknown token (all ``[UNK]``
      means the tokenizer files are missing or belong to another model);
    * ``distinct_embeddings``: two unrelated sentences do not get the same (unit) embedding;
    * ``batch_consistency``: embeddings of texts in one padded batch (under the tokenizer's padding side) agree with
      the texts embedded one by one (cosine >= 0.9999) - catches ``[:, -1]``-style pooling on right padding;
    * ``unit_norm``: outputs are L2-normalised;
    * ``builtin_modules``: only sentence-transformers modules, so plain ``SentenceTransformer(path)`` reloads it;

    and for the model: ``widths`` (all routes give the same width after ``truncate_dim``), ``prompts`` (every route
    has a prompt entry) and ``similarity`` (truncated vectors are not unit-norm, so not ``dot``).

    Args:
        model: The model to check.
        strict: Raise ``ValueError`` with the full report when a check fails.

    Returns:
        A :class:`ModelCheckReport`; ``str(report)`` is readable.
    """
    report = ModelCheckReport()
    is_router = get_router(model) is not None
    was_training = model.training
    model.eval()
    try:
        for route, modules in get_routes(model).items():
            task = route if is_router else None
            transformer = route_transformer(modules)
            tokenizer = None if transformer is None else transformer.tokenizer
            if tokenizer is not None:
                report.add(
                    route, "pad_token", tokenizer.pad_token is not None,
                    f"pad={tokenizer.pad_token!r}, padding_side={tokenizer.padding_side}",
                )
            non_builtin = [
                type(m).__module__ + "." + type(m).__name__ for m in modules
                if not type(m).__module__.startswith("sentence_transformers.")
            ]
            report.add(
                route, "builtin_modules", not non_builtin,
                "only sentence-transformers modules" if not non_builtin
                else f"{non_builtin} need trust_remote_code to reload",
            )
            if tokenizer is not None:
                _check_tokenizer(report, route, tokenizer)
            if tokenizer is None or tokenizer.pad_token is None:
                continue
            _check_distinct(report, model, route, task)
            if any(isinstance(m, Pooling) and m.pooling_mode == "lasttoken" for m in modules):
                _check_eos(report, model, route, task)

            batched = _embed(model, PROBE_TEXTS, task)
            single = torch.cat([_embed(model, [text], task) for text in PROBE_TEXTS])
            cosines = F.cosine_similarity(batched, single, dim=-1)
            report.add(
                route, "batch_consistency", bool(cosines.min() >= BATCH_COSINE_MIN),
                f"min cosine batched vs single = {cosines.min().item():.6f} (padding_side={tokenizer.padding_side})",
            )
            norms = batched.norm(dim=-1)
            report.add(
                route, "unit_norm", bool(((norms - 1).abs() <= NORM_TOLERANCE).all()),
                f"norms in [{norms.min().item():.4f}, {norms.max().item():.4f}]",
            )
    finally:
        model.train(was_training)

    widths = output_widths(model)
    known = {width for width in widths.values() if width is not None}
    report.add("model", "widths", len(known) == 1, f"output widths {widths} (truncate_dim={model.truncate_dim})")
    if is_router:
        missing = [route for route in widths if route not in (model.prompts or {})]
        report.add("model", "prompts", not missing, "missing prompts for routes " + str(missing) if missing else
                   f"prompts {model.prompts}")
    bad_similarity = model.truncate_dim is not None and model.similarity_fn_name == "dot"
    report.add(
        "model", "similarity", not bad_similarity,
        f"{model.similarity_fn_name}" + (" on truncated (non-unit) vectors: use cosine" if bad_similarity else ""),
    )
    logger.info("%s", report)
    if strict:
        report.raise_for_failures()
    return report
