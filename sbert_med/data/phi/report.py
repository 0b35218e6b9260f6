"""What a scrubbing run replaced: counts per kind, never the identifiers themselves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class PhiReport:
    """How many identifiers of each kind were replaced, and in how many rows (counts only: nothing of the text)."""

    rows: int = 0
    rows_changed: int = 0
    replacements: Counter = field(default_factory=Counter)
    method: str = "presidio"

    def add(self, kinds: list[str]) -> None:
        """Count one row whose replaced identifiers were of ``kinds`` (one entry per replacement)."""
        self.rows += 1
        self.rows_changed += bool(kinds)
        self.replacements.update(kinds)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "rows_changed": self.rows_changed, "method": self.method,
                "replacements": dict(sorted(self.replacements.items()))}

