from __future__ import annotations

import copy

import pytest
import torch

from sbert_med.losses import AlignmentLoss
from sbert_med.losses.length_buckets import embed_in_length_buckets

# lengths from two words to a long sentence, in no order, so that buckets differ from the batch order
TEXTS = [
    "low hemoglobin",
    "The left ventricle pumps oxygenated blood through the aortic valve into the aorta and on to the whole body.",
    "chest pain left arm",
    "Metformin is the first-line drug for type 2 diabetes.",
    "fever",
    "Asthma is treated with inhaled corticosteroids and, during attacks, short-acting beta agonists.",
    "what lowers blood pressure?",
    "Sudden numbness, confusion and trouble speaking can be signs of a stroke.",
]


class WidthSpy(torch.nn.Module):
    """The wrapped model, recording the padded width of every batch it embeds."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.widths: list[int] = []

    def forward(self, features):
        self.widths.append(features["input_ids"].shape[1])
        return self.model(features)


def _grads(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def _embed_and_backward(model, features, buckets):
    model.zero_grad()
    embeddings = embed_in_length_buckets(model, features, buckets)
    weights = torch.linspace(-1, 1, embeddings.numel()).reshape(embeddings.shape)
    (embeddings * weights).sum().backward()
    return embeddings.detach(), _grads(model)


def test_buckets_give_the_one_pass_embeddings_and_gradients_on_a_right_padded_batch(tiny_model):
    tiny_model.eval()  # no dropout: the two passes must see the same network
    features = tiny_model.preprocess(TEXTS, task="query")
    assert bool(features["attention_mask"][:, 0].all()), "the BERT query tower pads on the right"
    whole, whole_grads = _embed_and_backward(tiny_model, features, buckets=1)
    sliced, sliced_grads = _embed_and_backward(tiny_model, features, buckets=3)
    assert torch.allclose(sliced, whole, atol=1e-5)
    assert whole_grads.keys() == sliced_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        assert torch.allclose(sliced_grads[name], grad, atol=1e-5), name


def test_each_bucket_is_cut_to_its_own_longest_text(minilm):
    """all-MiniLM-L6-v2 on real medical texts: the same embeddings, from fewer padded tokens."""
    features = minilm.preprocess(TEXTS)
    spy = WidthSpy(minilm)
    with torch.no_grad():
        whole = minilm(copy.copy(features))["sentence_embedding"]
        sliced = embed_in_length_buckets(spy, features, buckets=4)
    assert torch.allclose(sliced, whole, atol=1e-5)
    lengths = sorted(features["attention_mask"].sum(dim=1).tolist(), reverse=True)
    assert spy.widths == [lengths[0], lengths[2], lengths[4], lengths[6]]
    padded = features["input_ids"].shape[1] * len(TEXTS)
    assert sum(width * 2 for width in spy.widths) < padded


def test_a_left_padded_batch_is_embedded_in_one_piece(tiny_model):
    """A decoder tokenizer padding on the left: dropping leading columns would move its tokens' positions."""
    tiny_model.eval()
    tiny_model[0].sub_modules["document"][0].tokenizer.padding_side = "left"
    features = tiny_model.preprocess(TEXTS, task="document")
    assert not bool(features["attention_mask"][:, 0].all())
    spy = WidthSpy(tiny_model)
    with torch.no_grad():
        embeddings = embed_in_length_buckets(spy, features, buckets=4)
        assert torch.equal(embeddings, tiny_model(copy.copy(features))["sentence_embedding"])
    assert spy.widths == [features["input_ids"].shape[1]]


def test_alignment_loss_is_unchanged_by_its_length_buckets(tiny_model):
    tiny_model.eval()
    features = [tiny_model.preprocess(TEXTS, task="query")]
    targets = torch.nn.functional.normalize(torch.randn(len(TEXTS), 32, generator=torch.Generator().manual_seed(0)))
    one = AlignmentLoss(tiny_model, length_buckets=1)(features, targets)
    four = AlignmentLoss(tiny_model)(features, targets)
    assert AlignmentLoss(tiny_model).get_config_dict()["length_buckets"] == 4
    for term in one:
        assert four[term].item() == pytest.approx(one[term].item(), abs=1e-5)
    with pytest.raises(ValueError, match="length_buckets must be >= 1"):
        AlignmentLoss(tiny_model, length_buckets=0)


def test_live_targets_of_the_frozen_document_route_are_bucketed_too(tiny_model):
    """(query, document) self-pairs: the frozen route's targets come from one pass or from buckets alike, and the
    right-padded decoder route is sliced (fewer padded tokens)."""
    tiny_model.eval()
    features = [tiny_model.preprocess(TEXTS, task="query"), tiny_model.preprocess(TEXTS, task="document")]
    assert bool(features[1]["attention_mask"][:, 0].all()), "the tiny Qwen2 document tower pads on the right"
    one = AlignmentLoss(tiny_model, length_buckets=1)([dict(f) for f in features], None)
    widths = []
    hook = tiny_model.register_forward_pre_hook(lambda module, args: widths.append(args[0]["input_ids"].shape[1]))
    try:
        four = AlignmentLoss(tiny_model)([dict(f) for f in features], None)
    finally:
        hook.remove()
    for term in one:
        assert four[term].item() == pytest.approx(one[term].item(), abs=1e-5)
    assert len(widths) == 8 and max(widths[4:]) == features[1]["input_ids"].shape[1]
    assert sum(widths[4:]) < 4 * features[1]["input_ids"].shape[1]
