"""The evaluators are sentence-transformers SentenceEvaluators: metric names, primary_metric, CSV, config, and usable
as ``evaluator=`` of a trainer; the thin functions give the same numbers."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.data.beir import load_beir
from sbert_med.evaluation import (
    ParaphraseAccuracyEvaluator,
    RetrievalEvaluator,
    STSData,
    evaluate_retrieval,
    evaluate_sts,
    sts_evaluator,
)

ANCHORS = ["The heart pumps blood.", "Insulin lowers blood sugar.", "Aspirin thins the blood.", "Lungs take in air."]
PARAPHRASES = ["Blood is pumped by the heart.", "Blood sugar falls with insulin.", "Aspirin reduces clotting.",
               "Air is breathed in by the lungs."]


@pytest.fixture(scope="module")
def model(tiny_encoder_path):
    return SentenceTransformer(tiny_encoder_path, device="cpu")


def test_retrieval_evaluator_is_an_information_retrieval_evaluator(model, beir_folder, tmp_path):
    data = load_beir(beir_folder)
    evaluator = RetrievalEvaluator(data)
    metrics = evaluator(model, output_path=str(tmp_path))
    assert evaluator.primary_metric == "toy_cosine_ndcg@10" and "toy_cosine_ndcg@10" in metrics
    assert (tmp_path / evaluator.csv_file).read_text().startswith("epoch,steps,cosine-Accuracy@1")
    assert evaluator.get_config_dict()["relevance"].startswith("graded")
    assert evaluate_retrieval(model, data, show_progress_bar=False)[None]["ndcg@10"] == pytest.approx(
        metrics["toy_cosine_ndcg@10"])
    with pytest.raises(ValueError, match="ndcg_at_k must be a non-empty list of values in"):
        RetrievalEvaluator(data, ndcg_at_k=[7])


def test_sts_and_paraphrase_evaluators(model, tmp_path):
    data = STSData("pairs", ANCHORS, PARAPHRASES, [4.0, 3.0, 1.0, 0.0])
    sts = sts_evaluator(data, prompt="query: ")
    metrics = sts(model, output_path=str(tmp_path))
    assert sts.primary_metric == "pairs_spearman_cosine" and sts.get_config_dict()["prompt"] == "query: "
    assert "pairs_spearman_cosine" in metrics and -1 <= evaluate_sts(model, data)["spearman"] <= 1

    paraphrase = ParaphraseAccuracyEvaluator(ANCHORS, PARAPHRASES, pool_size=3, top_k=(1, 3), name="p")
    metrics = paraphrase(model, output_path=str(tmp_path))
    assert set(metrics) == {"p_acc@1", "p_acc@3", "p_mrr"}  # the pool size is a setting, not a metric
    assert paraphrase.primary_metric == "p_acc@1" and paraphrase.get_config_dict() == {"pool_size": 3, "n": 4,
                                                                                      "seed": 0}
    assert (tmp_path / paraphrase.csv_file).read_text().splitlines()[0] == "epoch,steps,acc@1,acc@3,mrr"


def test_evaluators_work_as_a_trainers_evaluator(model, beir_folder, tmp_path):
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    evaluator = SequentialEvaluator([
        RetrievalEvaluator(load_beir(beir_folder)),
        ParaphraseAccuracyEvaluator(ANCHORS, PARAPHRASES, name="para"),
    ])
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = SentenceTransformerTrainer(model=model, args=args, evaluator=evaluator)
    metrics = trainer.evaluate()
    assert {"eval_toy_cosine_ndcg@10", "eval_para_acc@1", "eval_para_mrr"} <= set(metrics)
