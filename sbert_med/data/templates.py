"""Versioned prompt templates (``sbert_med/data/prompts/<name>.v<version>.json``) and their strict output parsers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent / "prompts"
QUERY_TYPES = ("keyword", "question", "treatment")
GRADES = ("S", "A", "B", "C", "D")


class OutputRejected(ValueError):
    """A model output that fails parsing or validation; ``str(exc)`` is the reason recorded in the journal."""


@dataclass(frozen=True)
class PromptTemplate:
    """A chat prompt with a name and a version; ``format(**fields)`` gives the chat messages.

    Changing a template's wording means adding a new version file, so every generated row's ``prompt_version`` keeps
    pointing at the exact text that produced it.
    """

    name: str
    version: int
    system: str
    user: str
    description: str = ""
    fields: tuple[str, ...] = field(default=())
    #: worked examples shown before the real input, as earlier chat turns: ``({field: value}, reply)`` pairs
    examples: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = field(default=())
    #: the start of the reply, given to the model as an unfinished assistant turn (continued, not restarted)
    response_prefix: str = ""

    def _user(self, values: dict) -> str:
        user = self.user
        for name in self.fields:
            user = user.replace("{" + name + "}", str(values[name]))
        return user

    def format(self, **values: str) -> list[dict[str, str]]:
        """The chat messages: system, the worked examples, the user turn and, with a ``response_prefix``, a final
        unfinished assistant turn that the generator continues (``continue_final_message``)."""
        missing = [name for name in self.fields if name not in values]
        if missing:
            raise ValueError(f"prompt {self.name!r} v{self.version} needs the fields {list(self.fields)}, "
                             f"missing {missing}")
        messages = [{"role": "system", "content": self.system}] if self.system else []
        for example_values, reply in self.examples:
            messages += [{"role": "user", "content": self._user(dict(example_values))},
                         {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": self._user(values)})
        if self.response_prefix:
            messages.append({"role": "assistant", "content": self.response_prefix})
        return messages

    def parse(self, output: str):
        """Parse and validate a model output for this template; raises :class:`OutputRejected` with the reason.

        With a ``response_prefix``, the generator's continuation is parsed with the prefix put back in front."""
        parser = PARSERS.get(self.name)
        if parser is None:
            raise ValueError(f"no output parser for prompt {self.name!r}; known: {sorted(PARSERS)}")
        if self.response_prefix and isinstance(output, str) and not output.lstrip().startswith(
                self.response_prefix.strip()):
            output = self.response_prefix + output
        return parser(output)


def available_prompts() -> dict[str, list[int]]:
    """Names of the packaged prompt templates and their versions."""
    found: dict[str, list[int]] = {}
    for path in PROMPTS_DIR.glob("*.v*.json"):
        name, _, version = path.stem.rpartition(".v")
        found.setdefault(name, []).append(int(version))
    return {name: sorted(versions) for name, versions in sorted(found.items())}


@cache
def load_prompt(name: str, version: int | None = None) -> PromptTemplate:
    """The packaged template ``name`` at ``version`` (default: its latest version)."""
    known = available_prompts()
    if name not in known:
        raise ValueError(f"prompt must be one of {sorted(known)}, got {name!r}")
    version = known[name][-1] if version is None else int(version)
    if version not in known[name]:
        raise ValueError(f"prompt {name!r} has versions {known[name]}, got {version!r}")
    data = json.loads((PROMPTS_DIR / f"{name}.v{version}.json").read_text(encoding="utf-8"))
    fields = tuple(sorted(set(_FIELD.findall(data["user"]))))
    examples = tuple((tuple(sorted(example["fields"].items())), example["reply"])
                     for example in data.get("examples", []))
    return PromptTemplate(name=data["name"], version=int(data["version"]), system=data.get("system", ""),
                          user=data["user"], description=data.get("description", ""), fields=fields,
                          examples=examples, response_prefix=data.get("response_prefix", ""))


_FIELD = re.compile(r"\{([a-z_]+)\}")
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def extract_json(output: str, *, expect: type):
    """The JSON value of ``output`` (optionally inside one Markdown code fence); no other text is allowed."""
    if not isinstance(output, str) or not output.strip():
        raise OutputRejected("empty output")
    text = output.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1).strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputRejected(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, expect):
        raise OutputRejected(f"expected a JSON {expect.__name__}, got {type(value).__name__}")
    return value


def parse_medembed_queries(output: str) -> dict:
    """``{"queries": [valid items], "invalid": [{"item", "reason"}]}``; rejected when no item is valid."""
    value = extract_json(output, expect=(list, dict))  # type: ignore[arg-type]
    if isinstance(value, dict):  # {"queries": [...]} is accepted too
        if not isinstance(value.get("queries"), list):
            raise OutputRejected("expected a JSON list of query objects (or {\"queries\": [...]})")
        value = value["queries"]
    queries, invalid = [], []
    for position, item in enumerate(value):
        reason = _medembed_item_problem(item)
        if reason:
            invalid.append({"position": position, "reason": reason, "item": item})
        else:
            queries.append({"query": item["query"].strip(), "query_type": item["query_type"].strip().lower(),
                            "relevance_score": float(item["relevance_score"])})
    if not queries:
        reasons = "; ".join(f"#{entry['position']}: {entry['reason']}" for entry in invalid) or "empty list"
        raise OutputRejected(f"no valid query object ({reasons})")
    return {"queries": queries, "invalid": invalid}


def _medembed_item_problem(item) -> str | None:
    if not isinstance(item, dict):
        return f"expected an object, got {type(item).__name__}"
    missing = [key for key in ("query", "query_type", "relevance_score") if key not in item]
    if missing:
        return f"missing keys {missing}"
    if not isinstance(item["query"], str) or len(item["query"].strip()) < 3:
        return f"query must be a non-empty string, got {item['query']!r}"
    if not isinstance(item["query_type"], str) or item["query_type"].strip().lower() not in QUERY_TYPES:
        return f"query_type must be one of {QUERY_TYPES}, got {item['query_type']!r}"
    score = item["relevance_score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
        return f"relevance_score must be a number in [0, 1], got {score!r}"
    return None


#: line labels of ``medline_queries`` and the MedEmbed query type each one stands for
_LINE_TYPES = {"keyword": "keyword", "question": "question", "treatment": "treatment", "q": "question"}
_LINE = re.compile(r"^\s*(?:\d+[.)]\s*)?(?P<label>[A-Za-z]+)\s*:\s*(?P<query>.*?)\s*$")
_MAX_QUERY_WORDS = 24  # ours: a search query, not an answer (the small models drift into answering)
_MAX_KEYWORD_WORDS = 12  # ours


def _unique_words(text: str, limit: int) -> str:
    """The words of ``text`` in order, each once (case and list punctuation ignored), at most ``limit``."""
    kept, seen = [], set()
    for word in text.replace(";", " ").replace(",", " ").split():
        key = word.lower().strip(".:")
        if key and key not in seen and key != "vs":
            seen.add(key)
            kept.append(word.strip(".:"))
    return " ".join(kept[:limit])


def parse_medline_queries(output: str) -> dict:
    """Line-labelled queries (``keyword: ...``, ``question: ...``, ``treatment: ...``), the first of each label.

    A line with an unknown label ends the reply (small models go on with answers, ``A: ...``). A query is cut at its
    first ``?`` (a question is one sentence); a keyword line keeps each word once (small models repeat words until
    the token limit) and at most 12; other lines keep their first 24 words. A query needs at least 2 words. No
    relevance score: the pipeline scores query-document pairs with an embedding model instead. Rejected when no
    line gives a valid query."""
    if not isinstance(output, str) or not output.strip():
        raise OutputRejected("empty output")
    queries, invalid, seen = [], [], set()
    for position, line in enumerate(output.strip().splitlines()):
        if not line.strip():
            continue
        match = _LINE.match(line)
        label = match.group("label").lower() if match else None
        if label not in _LINE_TYPES:
            break
        query_type = _LINE_TYPES[label]
        query = match.group("query").strip().strip('"').strip()
        if "?" in query:
            query = query[: query.index("?") + 1]
        if query_type == "keyword":  # "sleep quality; sleep duration; sleep stage ..." -> each word once
            query = _unique_words(query, _MAX_KEYWORD_WORDS)
        elif len(query.split()) > _MAX_QUERY_WORDS:  # a run-on statement: its first words
            query = " ".join(query.split()[:_MAX_QUERY_WORDS])
        words = len(query.split())
        if query_type in seen:
            continue
        seen.add(query_type)
        if words < 2:
            invalid.append({"position": position, "reason": f"query of {words} words (want 2-{_MAX_QUERY_WORDS})",
                            "item": line})
            continue
        queries.append({"query": query, "query_type": query_type, "relevance_score": None})
    if not queries:
        reasons = "; ".join(f"line {entry['position'] + 1}: {entry['reason']}" for entry in invalid)
        raise OutputRejected(f"no labelled query line ({reasons or 'no keyword/question/treatment line'})")
    return {"queries": queries, "invalid": invalid}


def parse_cardioembed_paraphrase(output: str) -> dict:
    value = extract_json(output, expect=dict)
    paraphrase = value.get("paraphrase")
    if not isinstance(paraphrase, str) or len(paraphrase.split()) < 3:
        raise OutputRejected(f"paraphrase must be a string of at least 3 words, got {paraphrase!r}")
    return {"paraphrase": paraphrase.strip()}


_LEADING_LABEL = re.compile(r"^\s*(?:paraphrase|rewritten sentence|sentence|answer)\s*:\s*", re.IGNORECASE)


def parse_textbook_paraphrase(output: str) -> dict:
    """A plain reply: its first non-empty line, with a leading ``Paraphrase:`` label and wrapping quotes removed.
    Rejected under 3 words."""
    lines = [line.strip() for line in output.splitlines() if line.strip()] if isinstance(output, str) else []
    if not lines:
        raise OutputRejected("empty output")
    paraphrase = _LEADING_LABEL.sub("", lines[0]).strip().strip('"').strip()
    if len(paraphrase.split()) < 3:
        raise OutputRejected(f"paraphrase must have at least 3 words, got {paraphrase!r}")
    return {"paraphrase": paraphrase}


def parse_mar_relevance(output: str) -> dict:
    value = extract_json(output, expect=dict)
    grade = value.get("grade")
    if not isinstance(grade, str) or grade.strip().upper() not in GRADES:
        raise OutputRejected(f"grade must be one of {GRADES}, got {grade!r}")
    reason = value.get("reason", "")
    return {"grade": grade.strip().upper(), "reason": reason if isinstance(reason, str) else str(reason)}


PARSERS = {
    "medembed_queries": parse_medembed_queries,
    "medline_queries": parse_medline_queries,
    "cardioembed_paraphrase": parse_cardioembed_paraphrase,
    "textbook_paraphrase": parse_textbook_paraphrase,
    "mar_relevance": parse_mar_relevance,
}
