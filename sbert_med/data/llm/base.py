"""The interface every text generator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationFailure:
    """A request that produced no output (after retries); the work item stays unfinished and a rerun redoes it."""

    reason: str


class LLMGenerator(ABC):
    """Chat-style text generator used by the data steps.

    Subclasses implement :meth:`stream`, which yields ``(position, output)`` pairs *as they complete* (in any order)
    so long jobs can journal each result at once. ``output`` is the generated text or a :class:`GenerationFailure`.
    """

    #: whether the texts leave this machine (an HTTP generator); such generators scrub PHI by default
    sends_data_off_machine: bool = False

    def __init__(self, *, model_name: str, max_new_tokens: int, temperature: float, seed: int) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        self.model_name = model_name
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed

    @abstractmethod
    def stream(self, conversations: list[Messages]) -> Iterator[tuple[int, str | GenerationFailure]]:
        """Generate one reply per conversation, yielding ``(index, reply)`` as each one is ready."""

    def generate(self, conversations: list[Messages]) -> list[str | GenerationFailure]:
        """All replies, in input order."""
        replies: list[str | GenerationFailure | None] = [None] * len(conversations)
        for index, reply in self.stream(conversations):
            replies[index] = reply
        return replies  # type: ignore[return-value]

    def provenance(self) -> dict:
        """What identifies this generator's outputs: model, decoding settings, seed."""
        return {"generator": self.model_name, "generator_kind": type(self).__name__, "seed": self.seed,
                "temperature": self.temperature, "max_new_tokens": self.max_new_tokens}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r}, seed={self.seed})"
