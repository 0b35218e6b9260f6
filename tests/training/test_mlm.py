from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from sbert_med.tokenizer import extend_tokenizer
from sbert_med.training import continue_pretraining


def test_mlm_trains_the_sentence_transformer_in_place(tiny_encoder_path, tmp_path, tiny_corpus):
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    extend_tokenizer(model, ["hypertension", "diuretics"])
    encoder = model[0].auto_model
    before = {name: p.detach().clone() for name, p in encoder.named_parameters()}
    report = continue_pretraining(
        model, tiny_corpus * 4, eval_texts=tiny_corpus, output_dir=tmp_path / "mlm", max_steps=4, batch_size=8,
        learning_rate=1e-3, max_length=32, use_cpu=True, show_progress_bar=False, save_steps=2,
    )
    assert report.global_step == 4 and report.train_texts == 32 and report.eval_texts == 8
    assert report.eval_loss_before is not None and report.eval_loss_after < report.eval_loss_before
    assert not report.head_from_checkpoint  # the tiny encoder was saved without an MLM head
    changed = [name for name, p in encoder.named_parameters() if not torch.equal(p, before[name])]
    assert "embeddings.word_embeddings.weight" in changed and any("encoder.layer" in name for name in changed)
    assert encoder.get_input_embeddings().weight.shape[0] == len(model.tokenizer)
    # still a plain model: save and reload without trust_remote_code
    model.save(str(tmp_path / "model"))
    reloaded = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    torch.testing.assert_close(reloaded.encode(tiny_corpus, convert_to_tensor=True),
                               model.encode(tiny_corpus, convert_to_tensor=True))


def test_mlm_resumes_from_its_checkpoint(tiny_encoder_path, tmp_path, tiny_corpus):
    options = dict(output_dir=tmp_path / "mlm", batch_size=8, max_length=32, use_cpu=True, save_steps=2,
                   show_progress_bar=False)
    continue_pretraining(SentenceTransformer(tiny_encoder_path, device="cpu"), tiny_corpus * 4, max_steps=2,
                         **options)
    report = continue_pretraining(SentenceTransformer(tiny_encoder_path, device="cpu"), tiny_corpus * 4,
                                  max_steps=4, resume=True, **options)
    assert report.resumed_from == "checkpoint-2" and report.global_step == 4


def test_mlm_rejects_bad_input(tiny_encoder_path, tiny_decoder_path, tmp_path):
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    with pytest.raises(ValueError, match="mlm_probability"):
        continue_pretraining(model, ["text"], output_dir=tmp_path, mlm_probability=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        continue_pretraining(model, [], output_dir=tmp_path)
    with pytest.raises(ValueError, match="no mask token"):
        continue_pretraining(SentenceTransformer(tiny_decoder_path, device="cpu"), ["text"], output_dir=tmp_path)


@pytest.mark.slow
def test_mlm_on_minilm_lowers_held_out_loss(minilm_path, openstax_paragraphs, tmp_path):
    model = SentenceTransformer(minilm_path, device="cpu")
    report = continue_pretraining(
        model, openstax_paragraphs[100:500], eval_texts=openstax_paragraphs[:48], output_dir=tmp_path, max_steps=15,
        batch_size=16, max_length=96, learning_rate=2e-4, use_cpu=True, show_progress_bar=False,
    )
    assert report.eval_loss_after < report.eval_loss_before - 1.0
