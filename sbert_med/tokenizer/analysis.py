"""How a tokenizer fragments (medical) words: tokens per word and the share of words split into several tokens."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

#: A word is a run of letters (digits, punctuation and whitespace belong to no word).
WORD_PATTERN = re.compile(r"[^\W\d_]+")


@dataclass
class FragmentationReport:
    """Fragmentation of the words of a corpus by one tokenizer.

    Every count is over word *occurrences*; ``distinct_*`` fields are over distinct (lower-cased) words.

    Attributes:
        tokenizer: Name of the tokenizer.
        num_texts: Texts analysed.
        num_words: Word occurrences (runs of letters).
        num_word_tokens: Tokens that overlap a word (a token spanning two words counts for both).
        tokens_per_word: ``num_word_tokens / num_words``.
        fragmented_share: Share of word occurrences split into two or more tokens.
        distinct_words: Distinct lower-cased words.
        distinct_fragmented_share: Share of distinct words split into two or more tokens.
        most_fragmented: The most frequent fragmented words: ``(word, tokens, occurrences)``.
    """

    tokenizer: str
    num_texts: int
    num_words: int
    num_word_tokens: int
    tokens_per_word: float
    fragmented_share: float
    distinct_words: int
    distinct_fragmented_share: float
    most_fragmented: list[tuple[str, int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        """A short Markdown report: the summary table and the most fragmented words."""
        lines = [
            f"### Tokenizer `{self.tokenizer}`",
            "",
            "| texts | words | tokens/word | fragmented words | distinct words | distinct fragmented |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {self.num_texts:,} | {self.num_words:,} | {self.tokens_per_word:.3f} | {self.fragmented_share:.1%} "
            f"| {self.distinct_words:,} | {self.distinct_fragmented_share:.1%} |",
        ]
        if self.most_fragmented:
            lines += ["", "Most frequent fragmented words (word: tokens × occurrences): " + ", ".join(
                f"{word}: {pieces}×{count}" for word, pieces, count in self.most_fragmented
            )]
        return "\n".join(lines)


def analyze_tokenizer(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    name: str | None = None,
    top_k: int = 20,
    batch_size: int = 256,
    show_progress_bar: bool = False,
) -> FragmentationReport:
    """Measure how ``tokenizer`` fragments the words of ``texts``.

    Words are runs of letters found in the *raw* text, independent of any tokenizer, so reports of different
    tokenizers on the same texts are comparable. Each token is assigned to the words its character offsets overlap,
    which works for WordPiece (``##`` pieces), byte-level BPE (``Ġ`` prefixes) and SentencePiece alike.

    Args:
        tokenizer: A fast (Rust-backed) Hugging Face tokenizer; offsets are needed.
        texts: The texts, e.g. corpus passages or glossary terms.
        name: Name shown in the report (default ``tokenizer.name_or_path``).
        top_k: How many of the most frequent fragmented words to list.
        batch_size: Texts tokenized per call.
        show_progress_bar: Show a progress bar.

    Returns:
        A :class:`FragmentationReport`.

    Example::

        from transformers import AutoTokenizer
        from sbert_med.data.corpus import read_glossary_terms
        from sbert_med.tokenizer import analyze_tokenizer

        terms = read_glossary_terms("../shared/data/openstax_ap2e/glossary.tsv")
        print(analyze_tokenizer(AutoTokenizer.from_pretrained("bert-base-uncased"), terms).to_markdown())
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"analyze_tokenizer needs a fast tokenizer (offsets), got {type(tokenizer).__name__}")
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, got a single string")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k!r}")
    word_count = token_count = fragmented = 0
    pieces_of: dict[str, int] = {}
    occurrences: Counter[str] = Counter()
    for start in tqdm(range(0, len(texts), batch_size), desc="Tokenizing", disable=not show_progress_bar):
        batch = list(texts[start : start + batch_size])
        encoded = tokenizer(batch, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        for text, offsets in zip(batch, encoded["offset_mapping"]):
            for word, pieces in _pieces_per_word(text, offsets):
                word_count += 1
                token_count += pieces
                fragmented += pieces > 1
                key = word.lower()
                occurrences[key] += 1
                pieces_of.setdefault(key, pieces)
    if word_count == 0:
        raise ValueError("texts contain no words (runs of letters) to analyse")
    distinct_fragmented = [word for word, pieces in pieces_of.items() if pieces > 1]
    most_fragmented = sorted(distinct_fragmented, key=lambda word: (-occurrences[word], word))[:top_k]
    return FragmentationReport(
        tokenizer=name or getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        num_texts=len(texts),
        num_words=word_count,
        num_word_tokens=token_count,
        tokens_per_word=token_count / word_count,
        fragmented_share=fragmented / word_count,
        distinct_words=len(pieces_of),
        distinct_fragmented_share=len(distinct_fragmented) / len(pieces_of),
        most_fragmented=[(word, pieces_of[word], occurrences[word]) for word in most_fragmented],
    )


def _pieces_per_word(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[str, int]]:
    """``(word, number of tokens overlapping it)`` for every word of ``text``; both lists are sorted by position."""
    spans = [(start, end) for start, end in offsets if end > start]
    result, first = [], 0
    for match in WORD_PATTERN.finditer(text):
        word_start, word_end = match.span()
        while first < len(spans) and spans[first][1] <= word_start:
            first += 1
        pieces, index = 0, first
        while index < len(spans) and spans[index][0] < word_end:
            pieces += spans[index][1] > word_start
            index += 1
        result.append((match.group(), max(pieces, 1)))
    return result
