"""``save_with_card``: check, merge adapters, save, and render the family's model card."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sentence_transformers.base.model_card import generate_model_card

from sbert_med.evaluation.report import Results, load_eval_results
from sbert_med.hub.card_data import FAMILIES, Family, MedModelCardData
from sbert_med.hub.model_description import describe_adapters
from sbert_med.hub.provenance import infer_data_sources
from sbert_med.modules import check_model, merge_lora

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def _recipe_settings(recipe_config: Any) -> tuple[str | None, dict[str, Any]]:
    if recipe_config is None:
        return None, {}
    if dataclasses.is_dataclass(recipe_config) and not isinstance(recipe_config, type):
        settings = dataclasses.asdict(recipe_config)
        name = getattr(type(recipe_config), "recipe", "") or type(recipe_config).__name__
    elif isinstance(recipe_config, dict):
        settings = dict(recipe_config)
        name = str(settings.get("recipe") or "custom")
    else:
        raise ValueError(f"recipe_config must be a dataclass (RecipeConfig) or a dict, got {type(recipe_config)!r}")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()}
    return name, settings


def prepare_card_data(
    model: SentenceTransformer,
    *,
    family: Family | None,
    card_data: MedModelCardData | None = None,
    eval_results: Results | str | Path | None = None,
    recipe_config: Any = None,
    base_models: dict[str, str] | None = None,
) -> MedModelCardData:
    """Attach a :class:`MedModelCardData` to ``model`` (keeping what training recorded) and fill it in: base models
    by Hub id (``base_models`` wins over what was recorded), the base licence when the card names none."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    if card_data is None:
        existing = model.model_card_data
        if isinstance(existing, MedModelCardData):
            card_data = existing
            if card_data.family != family:
                card_data = dataclasses.replace(card_data, family=family)
        else:
            card_data = MedModelCardData.from_card_data(existing, family=family)
    elif card_data.family != family:
        card_data = dataclasses.replace(card_data, family=family)
    if eval_results is not None:
        card_data.med_eval_results = load_eval_results(eval_results)
    name, settings = _recipe_settings(recipe_config)
    if name is not None:
        card_data.recipe_name = name
        card_data.recipe_settings = settings
        if not card_data.data_sources:
            card_data.data_sources = infer_data_sources(settings)
    if base_models:
        card_data.base_models = {**card_data.base_models, **base_models}
    model.model_card_data = card_data
    card_data.register_model(model)
    if not card_data.license:
        card_data.license = card_data.base_license()
        card_data._license_from_base = bool(card_data.license)
    return card_data


def render_card(model: SentenceTransformer, output_dir: str | Path) -> Path:
    """Render ``model.model_card_data`` into ``output_dir/README.md`` (errors are raised, not swallowed)."""
    model.model_card_data.save_dir = str(output_dir)
    path = Path(output_dir) / "README.md"
    path.write_text(generate_model_card(model), encoding="utf-8")
    return path


def save_with_card(
    model: SentenceTransformer,
    output_dir: str | Path,
    *,
    family: Family | None,
    card_data: MedModelCardData | None = None,
    eval_results: Results | str | Path | None = None,
    recipe_config: Any = None,
    on_check_failure: Literal["raise", "warn"] = "raise",
) -> str:
    """Check, merge adapters, save ``model`` to ``output_dir`` and write its generated model card (``README.md``).

    Steps: :func:`~sbert_med.modules.check_model` (pooling, EOS, padding, widths, built-in modules); record and
    merge LoRA adapters (:func:`~sbert_med.modules.merge_lora`) so the saved model is self-contained; ``model.save``;
    render the card (``sbert_med/hub/templates/model_card.md``); store the card data in ``sbert_med_card.json`` so that
    :func:`push_model` can render the card again with the Hub id.

    Args:
        model: The model to release.
        output_dir: Where to save it.
        family: ``"medembed"``, ``"cardioembed"``, ``"mar"``, ``"medeir"`` or ``None`` (a plain model: a neutral
            card); the family's wording appears only when ``recipe_config`` is the family's recipe.
        card_data: Card data to use (default: the model's own card data, upgraded to :class:`MedModelCardData`).
        eval_results: ``sbert-med eval`` results (``{model: {task: {metric: value}}}``) or the path of its
            ``results.json``.
        recipe_config: The recipe config (a ``RecipeConfig`` dataclass or a dict), shown in the card; its data paths
            give the data provenance when ``card_data.data_sources`` is empty.
        on_check_failure: ``"raise"`` (default) refuses to save a model that fails ``check_model``; ``"warn"`` logs
            the report and saves anyway.

    Returns:
        ``output_dir`` as a string.
    """
    valid = ("raise", "warn")
    if on_check_failure not in valid:
        raise ValueError(f"on_check_failure must be one of {list(valid)}, got {on_check_failure!r}")
    card_data = prepare_card_data(model, family=family, card_data=card_data, eval_results=eval_results,
                                  recipe_config=recipe_config)
    adapters = describe_adapters(model)
    if adapters:
        merge_lora(model)
        card_data.adapters = [{**adapter, "merged": True} for adapter in adapters]
    report = check_model(model)
    if not report.passed:
        if on_check_failure == "raise":
            raise ValueError(f"refusing to save a model that fails check_model:\n{report}")
        logger.warning("Saving a model that fails check_model:\n%s", report)
    card_data.check_summary = [{"route": r.route, "name": r.name, "passed": r.passed} for r in report.results]

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(output_dir), create_model_card=False)
    card_data.save_json(output_dir)
    render_card(model, output_dir)
    logger.info("Saved %s with a %s model card to %s", type(model).__name__, family, output_dir)
    return str(output_dir)
