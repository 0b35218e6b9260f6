"""Checks on training data before a run starts: router_mapping against the columns, and empty texts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from datasets import Dataset, DatasetDict, IterableDataset
from sentence_transformers import SentenceTransformer

from sbert_med.modules.routes import get_router

logger = logging.getLogger(__name__)

#: Columns the data collator treats as labels, not as texts to embed.
LABEL_COLUMNS = ("label", "labels", "score", "scores")
RESERVED_COLUMNS = ("dataset_name",)


def _named_datasets(dataset: Any) -> dict[str | None, Dataset | IterableDataset]:
    if dataset is None:
        return {}
    if isinstance(dataset, (DatasetDict, dict)):
        return dict(dataset.items())
    return {None: dataset}


def text_columns(dataset: Dataset | IterableDataset) -> list[str]:
    """The columns the collator embeds (everything but label and reserved columns)."""
    names = dataset.column_names or []
    return [name for name in names if name not in LABEL_COLUMNS and name not in RESERVED_COLUMNS]


def _valid_routes(model: SentenceTransformer) -> list[str]:
    router = get_router(model)
    routes = set(router.sub_modules)
    routes.update(task for task, _ in (router.route_mappings or {}) if task is not None)
    return sorted(routes)


def _where(split: str, name: str | None) -> str:
    return f"the {split} dataset" + (f" {name!r}" if name is not None else "")


def validate_router_mapping(
    model: SentenceTransformer,
    router_mapping: Mapping[str, Any] | None,
    datasets: Mapping[str, Any],
) -> None:
    """Check ``router_mapping`` against the columns of every dataset, for a model with a top-level Router.

    A text column that the mapping does not name would be embedded by the Router's *default* route without any
    warning (e.g. a typo ``anchr`` sending the queries through the document tower); here it is an error, as is a
    mapping entry naming no column or an unknown route.

    Args:
        model: The model; nothing is checked for a model without Router.
        router_mapping: ``{column: route}`` or, for multi-dataset training, ``{dataset_name: {column: route}}``.
        datasets: ``{"train": train_dataset, "eval": eval_dataset}`` (``Dataset``, ``DatasetDict`` or dict).

    Raises:
        ValueError: naming the dataset, the column and the valid choices.
    """
    if get_router(model) is None:
        return
    if not router_mapping:
        raise ValueError(
            "the model has a Router (query/document towers) but args.router_mapping is empty: every column would go "
            "to the default route; pass e.g. router_mapping={'anchor': 'query', 'positive': 'document'}"
        )
    routes = _valid_routes(model)
    nested = all(isinstance(value, Mapping) for value in router_mapping.values())
    if not nested and any(isinstance(value, Mapping) for value in router_mapping.values()):
        raise ValueError("router_mapping must map columns to routes, or dataset names to such mappings, not a mix")

    for split, dataset in datasets.items():
        named = _named_datasets(dataset)
        for name, data in named.items():
            if nested:
                if name is None or name not in router_mapping:
                    raise ValueError(
                        f"router_mapping is keyed by dataset name {sorted(router_mapping)} but {_where(split, name)} "
                        "has no entry"
                    )
                mapping = router_mapping[name]
            else:
                mapping = router_mapping
            columns = text_columns(data)
            if isinstance(data, IterableDataset) and not columns:
                logger.warning("cannot check router_mapping against %s: unknown columns", _where(split, name))
                continue
            for column, route in mapping.items():
                if route not in routes:
                    raise ValueError(f"router_mapping[{column!r}] must be one of {routes}, got {route!r}")
            if unmapped := [column for column in columns if column not in mapping]:
                default = get_router(model).default_route
                raise ValueError(
                    f"column(s) {unmapped} of {_where(split, name)} are not in router_mapping {dict(mapping)}: they "
                    f"would silently be embedded by the default route {default!r}; map every text column to a route "
                    f"(columns: {columns})"
                )
            if not nested and len(named) > 1:
                continue  # a flat mapping shared by several datasets may name columns of the others
            if missing := [column for column in mapping if column not in columns]:
                raise ValueError(
                    f"router_mapping names column(s) {missing} that {_where(split, name)} does not have "
                    f"(columns: {columns})"
                )


def check_no_empty_texts(datasets: Mapping[str, Any], *, max_rows: int | None = None) -> None:
    """Raise on an empty or whitespace-only text in any string column, naming the dataset, column and row.

    An empty text still embeds (to the pooled special tokens), so it would train silently on noise.
    ``IterableDataset`` inputs are not scanned.
    """
    for split, dataset in datasets.items():
        for name, data in _named_datasets(dataset).items():
            if not isinstance(data, Dataset):
                continue
            for column in text_columns(data):
                if getattr(data.features[column], "dtype", None) not in ("string", "large_string"):
                    continue
                values = data[column] if max_rows is None else data[column][:max_rows]
                for row, value in enumerate(values):
                    if value is None or not value.strip():
                        raise ValueError(
                            f"{_where(split, name)}, column {column!r}, row {row}: empty text {value!r}; "
                            "drop or fill such rows before training"
                        )
