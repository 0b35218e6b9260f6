"""Streamed, sharded encoding: a killed build resumes and ends equal to an uninterrupted build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from sbert_med.index import MedIndex, build_index

NUM_DOCS = 60
SHARD_SIZE = 10

BUILD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize
    from sbert_med.index import build_index
    from sbert_med.modules import encoder_tower

    model_path, corpus, out = sys.argv[1:4]
    model = SentenceTransformer(modules=[*encoder_tower(model_path, pooling="mean", max_seq_length=64), Normalize()],
                                device="cpu")

    def slow_down(index, path):
        print(f"shard {index}", flush=True)
        time.sleep(0.4)  # leave the test time to kill the build midway

    build_index(model, corpus, out, kind="ivf", nlist=3, shard_size={shard_size}, show_progress_bar=False,
                on_shard_written=slow_down)
    print("finished", flush=True)
    """
).replace("{shard_size}", str(SHARD_SIZE))


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume_corpus") / "corpus.jsonl"
    rows = [{"_id": f"d{i}", "text": f"Patient {i} has stage {i % 4} chronic kidney disease and anemia."}
            for i in range(NUM_DOCS)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.slow  # a subprocess that imports torch, then two builds
def test_killed_build_resumes_and_equals_uninterrupted_build(tiny_model, tiny_encoder_path, corpus_file, tmp_path,
                                                             caplog):
    script = tmp_path / "build.py"
    script.write_text(BUILD_SCRIPT)
    out = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, str(script), tiny_encoder_path, str(corpus_file), str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        seen = []
        deadline = time.monotonic() + 240
        while len(seen) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
        assert len(seen) == 3 and all(s.startswith("shard") for s in seen), seen
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists()
    done = sorted(p.name for p in (out / "shards").glob("*/0*.npy"))
    assert 3 <= len(done) < NUM_DOCS // SHARD_SIZE
    before = {name: next((out / "shards").glob(f"*/{name}")).read_bytes() for name in done}

    rewritten = []
    with caplog.at_level("INFO", logger="sbert_med.index.sharded_encoding"):
        resumed = build_index(tiny_model, corpus_file, out, kind="ivf", nlist=3, shard_size=SHARD_SIZE,
                              show_progress_bar=False, on_shard_written=lambda i, path: rewritten.append(path.name))
    assert f"Resuming: {len(done)} of {NUM_DOCS // SHARD_SIZE} shards" in caplog.text
    # no shard encoded twice, none lost
    assert set(rewritten).isdisjoint(before) and len(rewritten) + len(done) == NUM_DOCS // SHARD_SIZE

    uninterrupted = build_index(tiny_model, corpus_file, tmp_path / "clean", kind="ivf", nlist=3,
                                shard_size=SHARD_SIZE, show_progress_bar=False)
    np.testing.assert_allclose(np.asarray(resumed.embeddings), np.asarray(uninterrupted.embeddings), atol=1e-6)
    assert resumed.ids == uninterrupted.ids
    assert resumed.manifest.corpus_checksum == uninterrupted.manifest.corpus_checksum
    queries = resumed.encode_queries(tiny_model, ["stage 2 chronic kidney disease", "Patient 7 anemia"])
    for a, b in zip(resumed.search_embeddings(queries, top_k=10), uninterrupted.search_embeddings(queries, top_k=10)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_crash_inside_a_build_resumes_in_process(tiny_model, corpus_file, tmp_path):
    class Crash(RuntimeError):
        pass

    def crash_after_four(index, path):
        if index == 3:
            raise Crash

    with pytest.raises(Crash):
        build_index(tiny_model, corpus_file, tmp_path / "idx", shard_size=SHARD_SIZE, show_progress_bar=False,
                    on_shard_written=crash_after_four)
    rewritten = []
    resumed = build_index(tiny_model, corpus_file, tmp_path / "idx", shard_size=SHARD_SIZE, show_progress_bar=False,
                          on_shard_written=lambda i, path: rewritten.append(i))
    assert rewritten == list(range(4, NUM_DOCS // SHARD_SIZE))
    clean = build_index(tiny_model, corpus_file, tmp_path / "clean", shard_size=SHARD_SIZE, show_progress_bar=False)
    np.testing.assert_array_equal(np.asarray(resumed.embeddings), np.asarray(clean.embeddings))
    assert MedIndex.load(tmp_path / "idx").manifest.num_documents == NUM_DOCS


def test_truncated_shard_is_reencoded(tiny_model, corpus_file, tmp_path):
    shards = tmp_path / "shards"
    first = build_index(tiny_model, corpus_file, tmp_path / "a", shard_size=SHARD_SIZE, shard_dir=shards,
                        show_progress_bar=False)
    shard = next(shards.glob("*/00002.npy"))  # the one encoding cache: shards/<producer>/NNNNN.npy
    shard.write_bytes(shard.read_bytes()[:100])
    rewritten = []
    second = build_index(tiny_model, corpus_file, tmp_path / "b", shard_size=SHARD_SIZE, shard_dir=shards,
                         show_progress_bar=False, on_shard_written=lambda i, path: rewritten.append(i))
    assert rewritten == [2]
    np.testing.assert_array_equal(np.asarray(first.embeddings), np.asarray(second.embeddings))


@pytest.mark.slow
def test_shards_of_another_build_are_refused(tiny_model, tiny_encoder_path, corpus_file, tmp_path, tiny_corpus):
    shards = tmp_path / "shards"
    build_index(tiny_model, corpus_file, tmp_path / "a", shard_size=SHARD_SIZE, shard_dir=shards,
                show_progress_bar=False)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(tiny_corpus)))
    with pytest.raises(ValueError, match="holds shards of another build \\(corpus_checksum was"):
        build_index(tiny_model, other, tmp_path / "b", shard_size=SHARD_SIZE, shard_dir=shards,
                    show_progress_bar=False)
    with pytest.raises(ValueError, match="shard_size was 10, now 20"):
        build_index(tiny_model, corpus_file, tmp_path / "b", shard_size=20, shard_dir=shards,
                    show_progress_bar=False)


@pytest.mark.slow  # starts two spawned worker processes
def test_multi_process_encoding_equals_single_process(tiny_model, corpus_file, tmp_path):
    single = build_index(tiny_model, corpus_file, tmp_path / "single", shard_size=SHARD_SIZE,
                         show_progress_bar=False)
    pooled = build_index(tiny_model, corpus_file, tmp_path / "pooled", shard_size=SHARD_SIZE,
                         devices=["cpu", "cpu"], show_progress_bar=False)
    np.testing.assert_allclose(np.asarray(pooled.embeddings), np.asarray(single.embeddings), atol=1e-5)
