"""Learn medical tokens from a corpus and add them to a WordPiece tokenizer and its model.

New tokens are whole words that the base tokenizer fragments. They are added as *single-word* added tokens, matched
on the normalised text, so a text without any of the new words tokenises exactly as before — and, since the old
embedding rows are untouched, embeds exactly as before. Each new embedding row starts as the mean of the rows of the
pieces the base tokenizer split the word into.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from sentence_transformers import SentenceTransformer
from tokenizers import AddedToken, Tokenizer, models, trainers
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from sbert_med.modules.routes import find_transformer

logger = logging.getLogger(__name__)


@dataclass
class NewToken:
    """A candidate token: the word, its corpus frequency and the pieces the base tokenizer splits it into."""

    token: str
    frequency: int
    base_pieces: list[str]

    @property
    def tokens_saved(self) -> int:
        """Tokens saved over the corpus by making this word one token."""
        return self.frequency * (len(self.base_pieces) - 1)


@dataclass
class ExtensionReport:
    """What :func:`extend_tokenizer` did."""

    added: list[str]
    skipped: dict[str, str]
    old_vocab_size: int
    new_vocab_size: int
    checked_texts: int = 0
    unchanged_texts: int = 0
    init_pieces: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def learn_medical_tokens(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_new_tokens: int = 1000,
    vocab_size: int = 30000,
    min_frequency: int = 5,
    min_pieces: int = 2,
    min_length: int = 4,
    show_progress_bar: bool = False,
) -> list[NewToken]:
    """Learn whole-word tokens from a (medical) corpus that ``tokenizer`` fragments.

    A WordPiece vocabulary is trained on ``texts`` with the ``tokenizers`` library, using the base tokenizer's own
    normaliser and pre-tokeniser. Its whole-word entries (no ``##`` prefix, letters only, ``min_length`` or longer)
    that the base tokenizer splits into ``min_pieces`` or more pieces are the candidates, ranked by the number of
    tokens they save on the corpus (``frequency × (pieces − 1)``).

    Args:
        texts: The corpus.
        tokenizer: The base tokenizer (fast, WordPiece).
        max_new_tokens: Keep at most this many tokens.
        vocab_size: Size of the WordPiece vocabulary trained on the corpus.
        min_frequency: Minimum corpus frequency of a new token.
        min_pieces: Minimum number of base pieces for a word to be worth a token.
        min_length: Minimum length in characters.
        show_progress_bar: Show progress bars.

    Returns:
        The new tokens, best first.
    """
    backend = _wordpiece_backend(tokenizer)
    for option, value, minimum in [("max_new_tokens", max_new_tokens, 1), ("vocab_size", vocab_size, 100),
                                   ("min_frequency", min_frequency, 1), ("min_pieces", min_pieces, 2),
                                   ("min_length", min_length, 1)]:
        if value < minimum:
            raise ValueError(f"{option} must be >= {minimum}, got {value!r}")
    learner = Tokenizer(models.WordPiece(unk_token=tokenizer.unk_token or "[UNK]"))
    learner.normalizer = backend.normalizer
    learner.pre_tokenizer = backend.pre_tokenizer
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=show_progress_bar,
        special_tokens=[tokenizer.unk_token or "[UNK]"],
    )
    learner.train_from_iterator(texts, trainer=trainer, length=len(texts))
    frequency = _word_frequencies(texts, backend, show_progress_bar=show_progress_bar)
    base_vocab = tokenizer.get_vocab()
    candidates = []
    for word in learner.get_vocab():
        if word.startswith("##") or len(word) < min_length or not word.isalpha() or word in base_vocab:
            continue
        if frequency[word] < min_frequency:
            continue
        pieces = tokenizer.tokenize(word)
        if len(pieces) >= min_pieces:
            candidates.append(NewToken(word, frequency[word], pieces))
    candidates.sort(key=lambda new: (-new.tokens_saved, new.token))
    logger.info("Learned %d candidate tokens; keeping %d", len(candidates), min(max_new_tokens, len(candidates)))
    return candidates[:max_new_tokens]


def extend_tokenizer(
    model: SentenceTransformer,
    new_tokens: Sequence[str | NewToken],
    *,
    route: str | None = None,
    check_texts: Sequence[str] | None = None,
) -> ExtensionReport:
    """Add ``new_tokens`` to the model's tokenizer, resize its embeddings and initialise the new rows, in place.

    Each new token is added as a single-word token matched on the normalised text (``AddedToken(single_word=True,
    normalized=True)``), so it only replaces whole-word occurrences and never a piece of a longer word. Its embedding
    row is the mean of the rows of the pieces the base tokenizer split it into. The model keeps only built-in
    modules: ``SentenceTransformer(path)`` reloads it after ``model.save(path)``.

    Args:
        model: The model to extend (in place).
        new_tokens: Words or :class:`NewToken` from :func:`learn_medical_tokens`.
        route: For a model with a ``Router``, the route whose tower to extend.
        check_texts: Texts to verify on: each one without any new word must tokenise exactly as before; a
            difference raises ``RuntimeError``.

    Returns:
        An :class:`ExtensionReport`.
    """
    transformer = find_transformer(model, route=route)
    tokenizer = transformer.tokenizer
    backend = _wordpiece_backend(tokenizer)
    base_tokenizer = copy.deepcopy(tokenizer)
    normalize = backend.normalizer.normalize_str if backend.normalizer is not None else (lambda text: text)
    embeddings = transformer.auto_model.get_input_embeddings()
    old_vocab_size = len(tokenizer)
    added, skipped, pieces_of = [], {}, {}
    known = set(tokenizer.get_vocab())
    for new in new_tokens:
        word = normalize(new.token if isinstance(new, NewToken) else new).strip()
        if not word or not WORD_CHARS.fullmatch(word):
            skipped[word] = "not a single word"
        elif word in known:
            skipped[word] = "already in the vocabulary"
        else:
            ids = base_tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(ids) < 2:
                skipped[word] = "already a single token"
            else:
                added.append(word)
                known.add(word)
                pieces_of[word] = ids
    if not added:
        logger.warning("No new tokens to add (skipped %d)", len(skipped))
    tokenizer.add_tokens([AddedToken(word, single_word=True, normalized=True) for word in added])
    new_vocab_size = max(len(tokenizer), embeddings.weight.shape[0])
    transformer.auto_model.resize_token_embeddings(new_vocab_size, mean_resizing=False)
    weight = transformer.auto_model.get_input_embeddings().weight
    with torch.no_grad():
        for word in added:
            weight[tokenizer.convert_tokens_to_ids(word)] = weight[pieces_of[word]].mean(dim=0)
    report = ExtensionReport(
        added=added, skipped=skipped, old_vocab_size=old_vocab_size, new_vocab_size=len(tokenizer),
        init_pieces={word: base_tokenizer.convert_ids_to_tokens(ids) for word, ids in pieces_of.items()},
    )
    if check_texts is not None:
        report.checked_texts, report.unchanged_texts = check_untouched_tokenization(
            base_tokenizer, tokenizer, check_texts, new_words=added
        )
    logger.info("Added %d tokens (vocabulary %d -> %d)", len(added), old_vocab_size, len(tokenizer))
    return report


def check_untouched_tokenization(
    base_tokenizer: PreTrainedTokenizerBase,
    extended_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    new_words: Sequence[str],
) -> tuple[int, int]:
    """Verify that every text without a new word tokenises identically with both tokenizers.

    Returns:
        ``(texts checked, texts without a new word)``; all of the latter tokenised identically.

    Raises:
        RuntimeError: Naming the first text (by index) whose tokens changed although it has no new word.
    """
    backend = extended_tokenizer.backend_tokenizer
    normalize = backend.normalizer.normalize_str if backend.normalizer is not None else (lambda text: text)
    pattern = _whole_word_pattern(new_words)
    untouched = [index for index, text in enumerate(texts) if pattern is None or not pattern.search(normalize(text))]
    batch = [texts[index] for index in untouched]
    before = base_tokenizer(batch, verbose=False)["input_ids"] if batch else []
    after = extended_tokenizer(batch, verbose=False)["input_ids"] if batch else []
    for index, old, new in zip(untouched, before, after):
        if old != new:
            raise RuntimeError(
                f"text {index} has no new word but tokenises differently after the extension: {texts[index][:80]!r}"
            )
    return len(texts), len(untouched)


WORD_CHARS = re.compile(r"[^\W\d_]+")


def _whole_word_pattern(words: Sequence[str]) -> re.Pattern | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _word_frequencies(texts: Sequence[str], backend: Tokenizer, *, show_progress_bar: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in tqdm(texts, desc="Counting words", disable=not show_progress_bar):
        normalized = backend.normalizer.normalize_str(text) if backend.normalizer is not None else text
        counts.update(WORD_CHARS.findall(normalized))
    return counts


def _wordpiece_backend(tokenizer: PreTrainedTokenizerBase) -> Tokenizer:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"tokenizer extension needs a fast tokenizer, got {type(tokenizer).__name__}")
    kind = type(backend.model).__name__
    if kind != "WordPiece":
        raise ValueError(
            f"tokenizer extension supports WordPiece tokenizers (BERT family), got a {kind} tokenizer "
            f"({getattr(tokenizer, 'name_or_path', '')!r})"
        )
    return backend
