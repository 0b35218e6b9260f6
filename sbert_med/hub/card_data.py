"""``MedModelCardData``: sentence-transformers' model card data plus what a medical embedding model card must say."""

from __future__ import annotations

import dataclasses
import json
import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData

from sbert_med.evaluation.report import eval_tables
from sbert_med.hub.base_model import is_local_path, resolve_base_model
from sbert_med.hub.model_description import UNKNOWN_BASE, describe_towers, is_asymmetric
from sbert_med.hub.template_files import template_path

logger = logging.getLogger(__name__)

Family = Literal["medembed", "cardioembed", "mar", "medeir"]
FAMILIES = ("medembed", "cardioembed", "mar", "medeir")
FAMILY_TITLES = {
    "medembed": "MedEmbed-style medical retrieval encoder",
    "cardioembed": "CardioEmbed-style decoder embedding model (LoRA, EOS pooling)",
    "mar": "MAR-style asymmetric medical retrieval model",
    "medeir": "MedEIR-style long-context medical encoder",
}
#: The title of a model that was not trained by a family's recipe (a plain model, or one whose recipe is not known).
NEUTRAL_TITLE = "Sentence embedding model"
FAMILY_STYLES = {"medembed": "MedEmbed", "cardioembed": "CardioEmbed", "mar": "MAR/CARE", "medeir": "MedEIR"}
#: Recipe settings that name a base model (shown by Hub id, never by local path).
MODEL_SETTINGS = ("model", "base_model", "query_model", "document_model", "encoder", "decoder")
_MAR_SUMMARY = (
    "An asymmetric [sentence-transformers](https://www.SBERT.net) retrieval model{style}: a small **query\n"
    "tower** and a large **document tower** behind one `Router`. Queries are encoded with `encode_query` (cheap, at "
    "query\ntime) and documents with `encode_document` (once, at indexing time); both land in the same\n"
    "{dim}-dimensional space for {task}."
)
#: Keys of the JSON file that stores the card data beside the model, so that ``push_model`` can re-render the card.
CARD_DATA_FILE = "sbert_med_card.json"
STORED_FIELDS = ("family", "model_name", "model_id", "license", "language", "base_models", "matryoshka_dims",
                 "adapters", "recipe_name", "recipe_settings", "data_sources", "med_eval_results", "check_summary",
                 "usage_queries", "usage_documents")

DEFAULT_QUERIES = [
    "What are the first-line drugs for uncomplicated hypertension?",
    "symptoms of iron deficiency anemia",
]
DEFAULT_DOCUMENTS = [
    "Thiazide diuretics, ACE inhibitors, angiotensin receptor blockers and calcium channel blockers are first-line "
    "treatments for hypertension.",
    "Iron deficiency anemia causes fatigue, pallor, shortness of breath on exertion and brittle nails.",
    "The left ventricle pumps oxygenated blood into the aorta.",
]


@dataclass
class MedModelCardData(SentenceTransformerModelCardData):
    """Model card data for sbert_med models, rendered with ``sbert_med/hub/templates/model_card.md``.

    Everything sentence-transformers records (training datasets, losses, hyperparameters, logs, evaluator results)
    is kept; on top of it the card shows each tower (base model, pooling, EOS, padding side), prompts, Matryoshka
    dimensions, adapters (merged or not), the training recipe, data provenance with licences, evaluation tables from
    ``sbert-med eval`` and a medical-use statement.

    The card describes what the model is: its summary and training section come from the recorded recipe settings
    and data provenance; the family's title and "in the style of" wording appear only when the recorded recipe is
    the family's own. A model with no recorded training gets a neutral card that says so.

    Args:
        family: ``"medembed"``, ``"cardioembed"``, ``"mar"``, ``"medeir"`` or ``None`` (a plain model).
        base_models: Hub id of the base model of each route (``{"query": ..., "document": ...}``, ``"default"`` for a
            symmetric model, ``"*"`` for every route); by default the Hub id of the path each tower was loaded from
            when it is a known offline build (:func:`~sbert_med.hub.base_model.resolve_base_model`), never the
            path itself.
        matryoshka_dims: Dimensions the model was trained to be truncated to.
        adapters: LoRA adapters (filled by :func:`~sbert_med.hub.save_with_card`, which merges them).
        recipe_name: Name of the training recipe.
        recipe_settings: The recipe's configuration (shown as YAML).
        data_sources: ``[{"name", "source", "license", "rows", "notes"}]``: the provenance of the training data.
        med_eval_results: ``sbert-med eval`` results, ``{model: {task: {metric: value}}}``.
        usage_queries: Queries of the usage snippet.
        usage_documents: Documents of the usage snippet.
        **kwargs: Everything :class:`SentenceTransformerModelCardData` takes (``model_id``, ``license``, ...).
    """

    family: Family | None = "medembed"
    base_models: dict[str, str] = field(default_factory=dict)
    matryoshka_dims: list[int] = field(default_factory=list)
    adapters: list[dict[str, Any]] = field(default_factory=list)
    recipe_name: str | None = None
    recipe_settings: dict[str, Any] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    med_eval_results: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    check_summary: list[dict[str, Any]] = field(default_factory=list)
    usage_queries: list[str] = field(default_factory=lambda: list(DEFAULT_QUERIES))
    usage_documents: list[str] = field(default_factory=lambda: list(DEFAULT_DOCUMENTS))
    local_files_only: bool = True
    language: str | list[str] | None = field(default_factory=lambda: ["en"])
    tags: list[str] = field(default_factory=lambda: [
        "sentence-transformers", "sentence-similarity", "feature-extraction", "dense", "medical", "sbert-med",
    ])
    task_name: str = "medical semantic search and retrieval"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"family must be one of {list(FAMILIES)}, got {self.family!r}")
        self.template_path = template_path(self.family)
        self.tags = [tag for tag in self.tags if tag not in FAMILIES]
        if self.family is not None:
            self.add_tags(self.family)
        for dim in self.matryoshka_dims:
            if not isinstance(dim, int) or dim < 1:
                raise ValueError(f"matryoshka_dims must be positive integers, got {self.matryoshka_dims!r}")

    # ---- persistence beside the model ---------------------------------------------------------------------------
    def stored_dict(self) -> dict[str, Any]:
        """The fields written to ``sbert_med_card.json``."""
        return {name: getattr(self, name) for name in STORED_FIELDS}

    def save_json(self, folder: str | Path) -> Path:
        path = Path(folder) / CARD_DATA_FILE
        path.write_text(json.dumps(self.stored_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, folder: str | Path) -> MedModelCardData:
        path = Path(folder) / CARD_DATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        unknown = sorted(set(data) - set(STORED_FIELDS))
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; valid keys are {list(STORED_FIELDS)}")
        init = {k: v for k, v in data.items() if k not in ("adapters", "check_summary")}
        card = cls(**init)
        card.adapters = data.get("adapters", [])
        card.check_summary = data.get("check_summary", [])
        return card

    @classmethod
    def from_card_data(cls, other: SentenceTransformerModelCardData, **overrides: Any) -> MedModelCardData:
        """Upgrade the card data sentence-transformers collected (e.g. during training) to a ``MedModelCardData``."""
        init = {f.name: getattr(other, f.name) for f in dataclasses.fields(other) if f.init}
        init = {k: v for k, v in init.items() if k in {f.name for f in dataclasses.fields(cls) if f.init}}
        if init.get("tags"):
            init["tags"] = list(dict.fromkeys(init["tags"] + ["medical", "sbert-med"]))
        card = cls(**{**init, **overrides})
        for f in dataclasses.fields(other):
            if not f.init and f.name not in ("template_path", "model", "version"):
                setattr(card, f.name, getattr(other, f.name))
        return card

    # ---- rendering ----------------------------------------------------------------------------------------------
    # ---- what the model is -------------------------------------------------------------------------------------
    @property
    def trained_as_family(self) -> bool:
        """The recorded recipe is the family's own (only then may the card speak of the family's method)."""
        return self.family is not None and self.recipe_name == self.family

    def title(self) -> str:
        return FAMILY_TITLES[self.family] if self.trained_as_family else NEUTRAL_TITLE

    def get_default_model_name(self) -> str:
        if self.model_id:
            return self.model_id.split("/")[-1]
        towers = describe_towers(self.model, self.base_models) if self.model else []
        bases = {t["route"]: t.get("base_model") for t in towers}
        based_on = ", ".join(f"{route}: {base}" for route, base in bases.items() if base and base != UNKNOWN_BASE)
        return self.title() + (f" ({based_on})" if based_on else "")

    def training_facts(self) -> list[str]:
        """What the recorded recipe settings and provenance say about training (nothing is assumed)."""
        settings = self.recipe_settings or {}
        facts = []
        base = next((settings[key] for key in MODEL_SETTINGS if isinstance(settings.get(key), str)), None)
        if base:
            hub_id = resolve_base_model(base).hub_id
            facts.append(f"from {hub_id}" if hub_id else "from a local base model")
        names = [d.get("name") for d in self.data_sources if d.get("name")]
        data = settings.get("train_data") or settings.get("train_pairs")
        if names:
            facts.append("on " + ", ".join(names))
        elif isinstance(data, str) and data:
            facts.append(f"on `{Path(data).name}`")
        if isinstance(settings.get("temperature"), (int, float)):
            facts.append(f"InfoNCE (MultipleNegativesRankingLoss) at temperature {settings['temperature']}")
        mined, given = settings.get("mine_negatives"), settings.get("num_negatives")
        if isinstance(mined, int) and mined > 0:
            facts.append(f"{mined} mined hard negatives per query")
        elif isinstance(given, int) and given > 0:
            facts.append(f"{given} negatives per example from the training data")
        elif mined is not None or given is not None:
            facts.append("in-batch negatives only (no mined negatives)")
        if isinstance(settings.get("epochs"), (int, float)):
            facts.append(f"{settings['epochs']:g} epoch(s)")
        return facts

    def summary(self, dim: Any) -> str:
        """The card's opening paragraph: the model's structure, then its recorded training."""
        task = self.task_name
        if self._asym():
            style = f" in the style of {FAMILY_STYLES['mar']}" if self.trained_as_family else ""
            return _MAR_SUMMARY.format(style=style, dim=dim, task=task)
        eos = self.model is not None and any(t.get("pooling") == "lasttoken" for t in describe_towers(self.model))
        kind = ("embedding model built on a decoder language model (last-token pooling on an appended EOS token)"
                if eos else "encoder")
        lines = [f"A [sentence-transformers](https://www.SBERT.net) {kind} that maps text to a {dim}-dimensional "
                 f"space for {task}."]
        if self.recipe_name:
            style = f" in the style of {FAMILY_STYLES[self.family]}" if self.trained_as_family else ""
            facts = self.training_facts()
            lines.append(f"It was fine-tuned with the sbert_med **{self.recipe_name}** recipe{style}"
                         + (": " + "; ".join(facts) if facts else "") + ".")
        elif getattr(self, "all_hyperparameters", None):
            lines.append("It was trained with sentence-transformers (hyperparameters below); no sbert_med recipe was "
                         "recorded.")
        else:
            lines.append("No training was recorded for it: it is its base model as saved; see the base model's card "
                         "for how that was trained.")
        return textwrap.fill(" ".join(lines), width=119, break_long_words=False, break_on_hyphens=False)

    def base_license(self) -> str | None:
        """The base models' licence when they all share one known licence."""
        if self.model is None:
            return None
        licenses = {t.get("base_license") for t in describe_towers(self.model, self.base_models)}
        for route, hub_id in self.base_models.items():
            licenses.add(resolve_base_model(hub_id).license)
        licenses.discard(None)
        return licenses.pop() if len(licenses) == 1 else None

    def _public_settings(self) -> dict[str, Any]:
        """The recipe settings with base-model paths replaced by their Hub ids (never a local path)."""
        out = dict(self.recipe_settings)
        for key in MODEL_SETTINGS:
            value = out.get(key)
            if isinstance(value, str) and is_local_path(value):
                out[key] = resolve_base_model(value).hub_id or "(a local model)"
        return out

    def _snippet_truncate_dim(self) -> int | None:
        if self.model is not None and self.model.truncate_dim:
            return None  # saved with the model: plain loading already truncates
        return min(self.matryoshka_dims) if self.matryoshka_dims else None

    def generate_usage_snippet(self) -> str:
        model_id = self.model_id or "sentence_transformers_model_id"
        truncate = self._snippet_truncate_dim()
        load = f'SentenceTransformer("{model_id}"' + (f", truncate_dim={truncate})" if truncate else ")")
        lines = [
            "```python",
            "from sentence_transformers import SentenceTransformer",
            "",
            "# Download from the 🤗 Hub",
            f"model = {load}",
            "queries = [",
            *[f"    {json.dumps(q, ensure_ascii=False)}," for q in self.usage_queries],
            "]",
            "documents = [",
            *[f"    {json.dumps(d, ensure_ascii=False)}," for d in self.usage_documents],
            "]",
            "query_embeddings = model.encode_query(queries)" + ("  # query tower" if self._asym() else ""),
            "document_embeddings = model.encode_document(documents)" + ("  # document tower" if self._asym() else ""),
            "print(query_embeddings.shape, document_embeddings.shape)",
            f"# {self._shapes(truncate)}",
            "",
            "similarities = model.similarity(query_embeddings, document_embeddings)",
            "print(similarities)",
            self.similarities or "",
            "```",
        ]
        return "\n".join(line for line in lines if line is not None)

    def _asym(self) -> bool:
        return self.model is not None and is_asymmetric(self.model)

    def _shapes(self, truncate: int | None) -> str:
        dim = truncate or (self.model.truncate_dim if self.model is not None else None)
        if dim is None and self.model is not None:
            dim = self.model.get_embedding_dimension()
        return f"({len(self.usage_queries)}, {dim}) ({len(self.usage_documents)}, {dim})"

    def run_usage_snippet(self) -> None:
        if self.model is None:
            return
        truncate = self._snippet_truncate_dim()
        kwargs = {"convert_to_tensor": True, "show_progress_bar": False, "truncate_dim": truncate}
        queries = self.model.encode_query(self.usage_queries, **kwargs)
        documents = self.model.encode_document(self.usage_documents, **kwargs)
        similarity = self.model.similarity(queries, documents)
        with torch._tensor_str.printoptions(precision=4, sci_mode=False):
            self.similarities = "\n".join(f"# {line}" for line in str(similarity.cpu()).splitlines())

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("check_summary", None)
        towers = describe_towers(self.model, self.base_models) if self.model is not None else []
        prompts = dict(self.model.prompts) if self.model is not None else {}
        data.update(
            family_title=FAMILY_TITLES[self.family] if self.trained_as_family else "",
            summary=self.summary(data.get("output_dimensionality")),
            trained_as_family=self.trained_as_family,
            eos_pooling=any(t.get("pooling") == "lasttoken" for t in towers),
            license_from_base=getattr(self, "_license_from_base", False),
            towers=towers,
            asymmetric=self.model is not None and is_asymmetric(self.model),
            prompts={name: text for name, text in prompts.items()},
            truncate_dim=self.model.truncate_dim if self.model is not None else None,
            med_eval_tables=eval_tables(self.med_eval_results) if self.med_eval_results else {},
            recipe_yaml=yaml.safe_dump(self._public_settings(), sort_keys=False).strip() if self.recipe_settings
            else "",
            checks=self.check_summary,
            checks_passed=sum(1 for check in self.check_summary if check["passed"]),
        )
        # tower bases as Hub metadata when they are Hub ids; never a local path
        if isinstance(data.get("base_model"), str) and is_local_path(data["base_model"]):
            data["base_model"] = resolve_base_model(data["base_model"]).hub_id
        bases = [t["base_model"] for t in towers if t.get("base_model", "").count("/") == 1
                 and not is_local_path(t["base_model"])]
        if bases and not data.get("base_model"):
            data["base_model"] = bases[0] if len(set(bases)) == 1 else None
        return data
