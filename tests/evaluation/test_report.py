from __future__ import annotations

import json

import pytest

from sbert_med.evaluation.report import markdown_table, matryoshka_curves, write_report

RESULTS = {
    "bm25": {"A": {"ndcg@10": 0.5}, "B": {"ndcg@10": 0.7},
             "efficiency": {"query_batched_per_s": 5000.0, "query_b1_p50_ms": 0.2,
                            "document_batched_per_s": 900.0, "document_b1_p50_ms": 1.0}},
    "small": {"A": {"ndcg@10": 0.6}, "B": {"ndcg@10": 0.8}, "S": {"spearman": 0.81},
              "A@64": {"ndcg@10": 0.5}, "B@64": {"ndcg@10": 0.7},
              "efficiency": {"query_batched_per_s": 100.0, "query_b1_p50_ms": 12.0,
                             "document_batched_per_s": 20.0, "document_b1_p50_ms": 50.0}},
    "big": {"A": {"ndcg@10": 0.7}, "B": {"ndcg@10": 0.9}, "S": {"spearman": 0.85},
            "efficiency": {"query_batched_per_s": 10.0, "query_b1_p50_ms": 120.0,
                           "document_batched_per_s": 2.0, "document_b1_p50_ms": 500.0}},
}


def test_markdown_table_rows_columns_and_ratios():
    table = markdown_table(RESULTS)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| model | A nDCG@10 | B nDCG@10 | S spearman | mean nDCG@10 | query/s (batched)")
    assert lines[0].rstrip(" |").endswith("query speed × small")
    assert len(lines) == 2 + 3
    big = lines[4].split(" | ")
    assert big[0] == "| big" and big[1] == "0.7000" and big[4] == "0.8000"  # mean of A and B
    assert big[-1] == "0.10 |"  # 10 q/s vs 100 q/s
    assert "| bm25 | 0.5000 | 0.7000 | – |" in table  # no STS for BM25


def test_matryoshka_curves_and_report_files(tmp_path):
    curves = matryoshka_curves(RESULTS, {"small": 384})
    assert list(curves) == ["small"] and list(curves["small"]) == [64, 384]
    assert curves["small"][64] == pytest.approx(0.6) and curves["small"][384] == pytest.approx(0.7)
    files = write_report(RESULTS, tmp_path, full_dims={"small": 384}, note="toy numbers")
    assert json.loads(files["json"].read_text()) == RESULTS
    for key in ("quality_vs_speed", "matryoshka"):
        data = files[key].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
