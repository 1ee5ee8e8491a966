"""The task records agree with what the other layers hold: models, data modalities, generators,
reference scripts and the training tasks."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets.generators import GENERATORS
from tinyml_tinyverse.common.datasets.modalities import get_data_modality
from tinyml_tinyverse.common.errors import UnknownNameError
from tinyml_tinyverse.common.models import MODEL_REGISTRY, model_task
from tinyml_tinyverse.common.task_names import (
    MODEL_PREFIXES,
    TASK_RECORDS,
    TASKS,
    get_task_record,
    scores_classes,
    task_from_name,
    task_record_of_type,
)
from tinyml_tinyverse.references.common.tasks import TASK_REGISTRY, get_task

RECORDS = list(TASK_RECORDS.values())


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_record_matches_the_layers(record):
    assert task_record_of_type(record.task_type) is record
    modality = get_data_modality(record.modality)
    assert record.task in modality.tasks
    assert record.task in TASKS and record.task in TASK_REGISTRY
    assert importlib.util.find_spec(f"tinyml_tinyverse.references.timeseries_{record.task}") is not None
    assert record.primary_metric in record.metrics
    assert record.generators and all(g in GENERATORS for g in record.generators)
    assert not record.label_names or record.normal_class == record.label_names[0]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_zoo_models_of_a_prefix_are_made_for_the_task(record):
    """Every zoo model named with a record's prefix trains as that record's task, and there is one."""
    names = [n for n in MODEL_REGISTRY.names() if n.startswith(record.model_prefixes)]
    assert names, f"no model named {record.model_prefixes}*"
    assert {model_task(n) for n in names} == {record.task}


def test_training_tasks_read_the_records():
    for name in TASKS:
        task, record = get_task(name), get_task_record(name)
        assert task.primary_metric == record.primary_metric
        assert (task.mode == "max") == record.higher_is_better
        assert task.record is record


def test_views_and_properties():
    assert TASKS == ("classification", "regression", "forecasting", "anomalydetection")
    assert MODEL_PREFIXES == {
        "classification": "CLS_",
        "regression": "REGR_",
        "forecasting": "FCST_",
        "anomalydetection": "AD_",
    }
    assert task_from_name("AD_1k") == "anomalydetection" and task_from_name("IMG_CLS_4k") is None
    assert [r.name for r in RECORDS if r.by_class] == [
        "classification",
        "anomalydetection",
        "image_classification",
        "audio_classification",
    ]
    assert [r.name for r in RECORDS if r.needs_horizon] == ["forecasting"]
    assert get_task_record("anomalydetection").label_names == ("Normal", "Anomaly")
    assert scores_classes("classification") and scores_classes("image_classification")
    assert not scores_classes("anomalydetection") and not scores_classes(None) and not scores_classes("nope")


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="did you mean 'classification'.*regression"):
        get_task_record("clasification")
    with pytest.raises(UnknownNameError, match="unknown task 'generic_timeseries_clasification'"):
        task_record_of_type("generic_timeseries_clasification")


def test_training_tasks_report_the_record_metrics():
    """The figures a record names are the ones its training task reports (``file_level``: in the
    post-training analysis)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 1, 8, 1)).astype(np.float32)
    cases = {
        "classification": (rng.normal(size=(12, 3)), SimpleNamespace(y=np.arange(12) % 3, X=x), {}),
        "regression": (rng.normal(size=(12, 1)), SimpleNamespace(y=rng.normal(size=(12, 1)), X=x), {}),
        "forecasting": (rng.normal(size=(12, 2, 1)), SimpleNamespace(y=rng.normal(size=(12, 2, 1)), X=x), {}),
        "anomalydetection": (x + 0.1, SimpleNamespace(y=np.arange(12) % 2, X=x), {"threshold": 0.01}),
    }
    for name, (outputs, split, state) in cases.items():
        figures = get_task(name).metrics(np.asarray(outputs, np.float32), split, state)
        missing = set(get_task_record(name).metrics) - set(figures) - {"file_level"}
        assert not missing, f"{name}: the record names {missing}, the task reports {sorted(figures)}"
