"""save_with_card: golden card of an asymmetric model with a merged LoRA document tower, runnable usage snippet,
plain reload, per-family templates."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.hub import MedModelCardData, save_with_card
from sbert_med.hub.template_files import TEMPLATE, TEMPLATES_DIR

GOLDEN = Path(__file__).parent / "golden" / "mar_card.md"
ANY = "<<ANY>>"
EVAL_RESULTS = {
    "mar-tiny": {
        "MedQuAD": {"ndcg@10": 0.5123, "recall@10": 0.71},
        "BIOSSES": {"spearman": 0.6042},
        "MedQuAD@32": {"ndcg@10": 0.4871},
        "efficiency": {"query_batched_per_s": 912.0, "query_b1_p50_ms": 3.21, "document_batched_per_s": 20.5},
    },
    "bm25": {"MedQuAD": {"ndcg@10": 0.4401}},
}
RECIPE = {"recipe": "mar", "train_pairs": "../shared/data/medquad/train_pairs.tsv", "learning_rate": 1e-4,
          "stage": "joint"}


def card_data() -> MedModelCardData:
    return MedModelCardData(
        base_models={"query": "tiny/bert-32", "document": "tiny/qwen2-64"}, matryoshka_dims=[64, 32],
        license="apache-2.0",
    )


def matches_golden(text: str, golden: str) -> re.Match | None:
    pattern = "".join("[\\s\\S]*?" if part == ANY else re.escape(part) for part in re.split(f"({ANY})", golden))
    return re.fullmatch(pattern, text)


def python_snippet(card: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert len(blocks) == 1, "the card must hold exactly one python usage snippet"
    return blocks[0]


@pytest.fixture(scope="module")
def saved(make_asym_lora, tiny_encoder_path, tiny_decoder_path, tmp_path_factory):
    model = make_asym_lora(tiny_encoder_path, tiny_decoder_path)
    path = save_with_card(model, tmp_path_factory.mktemp("saved") / "mar", family="mar", card_data=card_data(),
                          eval_results=EVAL_RESULTS, recipe_config=RECIPE)
    return model, Path(path)


def test_golden_card_of_asymmetric_model_with_merged_lora(saved):
    _, path = saved
    card = (path / "README.md").read_text()
    golden = GOLDEN.read_text()
    if not matches_golden(card, golden):  # show the first differing line
        for number, (got, want) in enumerate(zip(card.splitlines(), golden.splitlines()), start=1):
            if ANY not in want and got != want:
                pytest.fail(f"card differs from {GOLDEN.name} at line {number}:\n got: {got!r}\nwant: {want!r}")
        pytest.fail(f"card does not match {GOLDEN.name}")
    assert "adapter_config.json" not in {p.name for p in path.rglob("*")}


def test_usage_snippet_runs_and_prints_what_the_card_says(saved):
    model, path = saved
    card = (path / "README.md").read_text()
    snippet = python_snippet(card).replace('"sentence_transformers_model_id"', json.dumps(str(path)))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(snippet, "usage_snippet", "exec"), {})
    printed = stdout.getvalue().splitlines()
    expected_shapes = re.search(r"print\(query_embeddings.shape, document_embeddings.shape\)\n# (.*)", card)[1]
    assert printed[0] == expected_shapes == "(2, 32) (3, 32)"
    printed_numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", "\n".join(printed[1:]))]
    card_numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", card.split("print(similarities)")[1].split("```")[0])]
    assert len(printed_numbers) == 6
    np.testing.assert_allclose(printed_numbers, card_numbers, atol=2e-4)


def test_saved_model_reloads_plainly_with_identical_embeddings(saved):
    model, path = saved
    reloaded = SentenceTransformer(str(path), device="cpu")
    texts = ["Chest pain radiating to the left arm.", "What causes anemia?"]
    np.testing.assert_allclose(reloaded.encode_query(texts), model.encode_query(texts), atol=1e-5)
    np.testing.assert_allclose(reloaded.encode_document(texts), model.encode_document(texts), atol=1e-5)
    stored = json.loads((path / "sbert_med_card.json").read_text())
    assert stored["family"] == "mar" and stored["adapters"][0]["merged"] is True
    assert stored["data_sources"][0]["name"] == "MedQuAD" and stored["data_sources"][0]["license"] == "CC BY 4.0"


@pytest.mark.slow
def test_lora_was_really_merged(asym_lora_model, tmp_path):
    texts = ["Metformin lowers blood glucose."]
    doc = asym_lora_model[0].sub_modules["document"][0].model
    with doc.disable_adapter():
        base = asym_lora_model.encode_document(texts)
    tuned = asym_lora_model.encode_document(texts)
    assert not np.allclose(base, tuned, atol=1e-3)
    path = save_with_card(asym_lora_model, tmp_path / "m", family="mar")
    np.testing.assert_allclose(SentenceTransformer(path, device="cpu").encode_document(texts), tuned, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["medembed", "medeir"])
def test_encoder_families(family, tiny_encoder_path, tmp_path):
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import encoder_tower

    model = SentenceTransformer(modules=[*encoder_tower(tiny_encoder_path, pooling="mean"), Normalize()],
                                device="cpu")
    path = save_with_card(model, tmp_path / family, family=family, recipe_config={"recipe": family})
    card = (Path(path) / "README.md").read_text()
    assert {"medembed": "MedEmbed-style", "medeir": "MedEIR-style"}[family] in card
    assert "must not be used to make\n> or support clinical decisions" in card
    assert "encode_query(queries)" in card and "No adapters" not in card and "None: all weights" in card
    assert f"- {family}\n" in card.split("---")[1]  # family tag in the metadata


@pytest.mark.slow
def test_cardioembed_family_shows_eos_pooling(tiny_decoder_path, tmp_path):
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import add_lora, eos_tower

    model = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path), Normalize()], device="cpu")
    add_lora(model, "document", {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "k_proj"]})
    path = save_with_card(model, tmp_path / "cardio", family="cardioembed",
                          card_data=MedModelCardData(base_models={"default": "Qwen/Qwen3-Embedding-8B"}))
    card = (Path(path) / "README.md").read_text()
    assert re.search(r"\| default \| Qwen/Qwen3-Embedding-8B \| Qwen2\w* \| 64 \| 2 \| lasttoken \| "
                     r"appended \(<\|endoftext\|>\)", card)
    assert "| default | LORA | 8 | 16 | k_proj, q_proj | merged into the weights |" in card
    assert "Do not pool\n`last_hidden_state[:, -1]` yourself with right padding" in card


def test_the_card_template_exists_once_inside_the_package():
    # one packaged template (it must ship in the wheel: setup.cfg package_data), no copy in model_cards/
    assert sorted(p.name for p in TEMPLATES_DIR.glob("*.md")) == [TEMPLATE.name]
    repo = Path(__file__).resolve().parents[2]
    assert sorted(p.name for p in (repo / "model_cards").glob("*.md")) == ["README.md"]
    assert "hub/templates/*.md" in (repo / "setup.cfg").read_text()
    assert "sbert_med/hub/templates/model_card.md" in (repo / "model_cards" / "README.md").read_text()


def test_bad_inputs_are_refused(asym_lora_model, tmp_path):
    with pytest.raises(ValueError, match=r"family must be one of \['medembed', 'cardioembed', 'mar', 'medeir'\]"):
        save_with_card(asym_lora_model, tmp_path / "x", family="bert")
    bad = tmp_path / "results.json"
    bad.write_text('{"m": {"task": {"ndcg@10": 0.5,}}}')
    with pytest.raises(ValueError, match=r"results\.json, line 1, column \d+: invalid JSON"):
        save_with_card(asym_lora_model, tmp_path / "x", family="mar", eval_results=bad)
    with pytest.raises(ValueError, match=r"'m' / 'task' / 'ndcg' must be a number, got 'high'"):
        save_with_card(asym_lora_model, tmp_path / "x", family="mar", eval_results={"m": {"task": {"ndcg": "high"}}})


@pytest.mark.slow
def test_minilm_medembed_card_snippet_ranks_the_right_documents(minilm_path, tmp_path):
    """Real model: the card of all-MiniLM-L6-v2 saved as a MedEmbed-family model; its snippet's similarities put
    each usage query's answer first, and the saved model reloads with identical embeddings."""
    model = SentenceTransformer(minilm_path, device="cpu")
    card_data = MedModelCardData(base_models={"default": "sentence-transformers/all-MiniLM-L6-v2"},
                                 license="apache-2.0")
    path = Path(save_with_card(model, tmp_path / "minilm", family="medembed", card_data=card_data))
    card = (path / "README.md").read_text()
    assert "| default | sentence-transformers/all-MiniLM-L6-v2 | BertModel | 384 | 6 | mean |" in card
    snippet = python_snippet(card).replace('"sentence_transformers_model_id"', json.dumps(str(path)))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(snippet, "usage_snippet", "exec"), {})
    numbers = np.array([float(x) for x in re.findall(r"-?\d+\.\d+", stdout.getvalue().split(")", 2)[-1])])
    similarities = numbers.reshape(2, 3)
    assert list(similarities.argmax(axis=1)) == [0, 1]  # hypertension -> drugs, anemia -> symptoms
    texts = ["Iron deficiency anemia", "What is a stroke?"]
    np.testing.assert_allclose(SentenceTransformer(str(path), device="cpu").encode(texts), model.encode(texts),
                               atol=1e-6)


@pytest.mark.slow
def test_what_training_recorded_is_kept(tiny_encoder_path, tmp_path):
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import encoder_tower

    model = SentenceTransformer(modules=[*encoder_tower(tiny_encoder_path, pooling="mean"), Normalize()],
                                device="cpu")
    model.model_card_data.all_hyperparameters = {"learning_rate": 2e-05, "per_device_train_batch_size": 32}
    model.model_card_data.license = "mit"
    path = save_with_card(model, tmp_path / "m", family="medembed")
    card = (Path(path) / "README.md").read_text()
    assert isinstance(model.model_card_data, MedModelCardData)
    assert "- `learning_rate`: 2e-05" in card and "license: mit" in card
