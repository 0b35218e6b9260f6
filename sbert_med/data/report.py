"""A small report every data step can return: rows in and out, and how many were dropped for which reason."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StepReport:
    """Counts of what a step did. ``dropped`` maps a reason to a count; ``details`` keeps a few examples per reason."""

    step: str
    rows_in: int = 0
    rows_out: int = 0
    counts: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    details: dict[str, list[str]] = field(default_factory=dict)
    max_details: int = 5

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def drop(self, reason: str, amount: int = 1, *, detail: str | None = None) -> None:
        self.dropped[reason] += amount
        if detail is not None:
            self.reason(reason, detail)

    def reason(self, name: str, detail: str) -> None:
        examples = self.details.setdefault(name, [])
        if len(examples) < self.max_details and detail not in examples:
            examples.append(detail)

    def to_dict(self) -> dict:
        return {"step": self.step, "rows_in": self.rows_in, "rows_out": self.rows_out, "counts": dict(self.counts),
                "dropped": dict(self.dropped), "details": self.details}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def log(self, logger: logging.Logger) -> None:
        logger.info("%s: %d rows in, %d out; counts %s; dropped %s", self.step, self.rows_in, self.rows_out,
                    dict(self.counts), dict(self.dropped))
