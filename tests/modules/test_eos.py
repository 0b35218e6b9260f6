from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers import AutoModelForCausalLM, AutoTokenizer

from sbert_med.modules import appends_eos, check_model, eos_tower

TEXTS = ["Fever.", "Chest pain radiating to the left arm with sweating and nausea for two hours."]


def _copy_decoder(path, folder, **tokenizer_changes):
    tokenizer = AutoTokenizer.from_pretrained(path)
    for key, value in tokenizer_changes.items():
        setattr(tokenizer, key, value)
    tokenizer.save_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(path).save_pretrained(folder)
    return str(folder)


def test_eos_tower_appends_eos_persistently(tiny_decoder_path, tmp_path):
    assert not appends_eos(AutoTokenizer.from_pretrained(tiny_decoder_path))  # the raw tokenizer drops EOS
    modules = eos_tower(tiny_decoder_path, max_seq_length=8)
    tokenizer = modules[0].tokenizer
    assert modules[1].pooling_mode == "lasttoken"
    ids = tokenizer("chest pain")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer(TEXTS[1], truncation=True, max_length=8)["input_ids"][-1] == tokenizer.eos_token_id

    model = SentenceTransformer(modules=[*modules, Normalize()])
    model.save(str(tmp_path / "model"))
    reloaded = SentenceTransformer(str(tmp_path / "model"))
    assert appends_eos(reloaded[0].tokenizer)
    assert appends_eos(AutoTokenizer.from_pretrained(tmp_path / "model"))
    assert torch.equal(torch.tensor(reloaded.encode(TEXTS)), torch.tensor(model.encode(TEXTS)))


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_eos_tower_padding_sides_give_the_same_embeddings(tiny_decoder_path, padding_side):
    model = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path, padding_side=padding_side), Normalize()])
    assert model[0].tokenizer.padding_side == padding_side
    batched = model.encode(TEXTS, convert_to_tensor=True)
    single = torch.cat([model.encode([text], convert_to_tensor=True) for text in TEXTS])
    assert torch.nn.functional.cosine_similarity(batched, single).min() > 0.9999
    assert check_model(model).passed


def test_eos_tower_adds_a_pad_token(tiny_decoder_path, tmp_path):
    folder = _copy_decoder(tiny_decoder_path, tmp_path / "nopad", pad_token=None)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    tokenizer = eos_tower(folder)[0].tokenizer
    assert tokenizer.pad_token == tokenizer.eos_token


def test_eos_tower_without_eos_or_pad_is_an_error(tiny_decoder_path, tmp_path):
    folder = _copy_decoder(tiny_decoder_path, tmp_path / "noeos", pad_token=None, eos_token=None)
    with pytest.raises(ValueError, match="no EOS token"):
        eos_tower(folder)


def test_eos_tower_bad_options(tiny_decoder_path):
    with pytest.raises(ValueError, match=r"padding_side must be one of \['left', 'right'\], got 'middle'"):
        eos_tower(tiny_decoder_path, padding_side="middle")
    with pytest.raises(ValueError, match="max_seq_length"):
        eos_tower(tiny_decoder_path, max_seq_length=1)


def test_chat_template_does_not_hide_eos(tiny_decoder_path, tmp_path):
    """A tokenizer with a chat template makes a plain Transformer render texts through it (pooling the template's
    suffix); eos_tower feeds plain text so the last token stays EOS."""
    template = "{% for m in messages %}<|endoftext|>{{ m['content'] }}\n{% endfor %}"
    folder = _copy_decoder(tiny_decoder_path, tmp_path / "chat", chat_template=template, add_eos_token=True)
    plain = Transformer(folder)
    naive = SentenceTransformer(modules=[plain, Pooling(64, "lasttoken"), Normalize()])
    report = check_model(naive)
    assert not report.passed and [r.name for r in report.failures] == ["eos_last"]
    ours = SentenceTransformer(modules=[*eos_tower(folder), Normalize()])
    assert check_model(ours).passed
