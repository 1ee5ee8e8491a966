"""The tasks: one torch-free :class:`TaskRecord` per task, in ``TASK_RECORDS``, read by every layer.

A record says what the task is, not how it trains (that is ``references.common.tasks``): its
name, the ``task_type`` a project YAML names it by, its data modality, its model-name prefixes
(``CLS_...`` classifies, ``REGR_...`` regresses, ``AD_...`` detects anomalies, ``FCST_...``
forecasts), whether its data is by class (``classes/<label>/``) or not (``files/``), its fixed label
names, whether it needs a forecast horizon, its description and its metrics. A model class may also
declare its task itself with a ``task`` attribute.

``TASKS``, ``MODEL_PREFIXES`` and :func:`task_from_name` are views of the time-series records (the
tasks of the reference scripts); the vision and audio tasks are scored as ``classification``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class TaskRecord:
    """What one task is. ``scored_as``: the task whose loss, metrics and reports it uses (its own
    name for the four time-series tasks); ``label_names``: fixed class names (anomaly detection:
    normal first), empty when the class folders name them; ``normal_class``: the folder of normal
    data (anomaly detection); ``min_classes``: class folders the dataset needs; ``generators``: the
    example-data generators (``common.datasets.generators``) that make a dataset of this task."""

    name: str
    task_type: str
    modality: str
    model_prefixes: tuple[str, ...]
    by_class: bool
    description: str
    metrics: tuple[str, ...]
    primary_metric: str
    higher_is_better: bool = False
    needs_horizon: bool = False
    label_names: tuple[str, ...] = ()
    normal_class: str | None = None
    min_classes: int = 0
    scored_as: str = ""
    generators: tuple[str, ...] = ()

    @property
    def task(self) -> str:
        """The task the reference scripts train and score it as."""
        return self.scored_as or self.name

    @property
    def scores_classes(self) -> bool:
        """The model outputs one score per class and answers with the largest (classification)."""
        return self.by_class and self.normal_class is None

    @property
    def model_prefix(self) -> str:
        """The main model-name prefix (``CLS_``)."""
        return self.model_prefixes[0]


TASK_RECORDS = Registry("task", hint="the tasks are defined in tinyml_tinyverse.common.task_names")


def _add(record: TaskRecord) -> None:
    TASK_RECORDS.register(record.name, record)


# what every classification task shares: class folders (two or more), scored by accuracy
_CLASSIFICATION = {"by_class": True, "min_classes": 2, "primary_metric": "accuracy", "higher_is_better": True}
_CLASS_METRICS = ("accuracy", "f1_macro", "confusion_matrix", "roc_auc")


_add(
    TaskRecord(
        name="classification",
        task_type="generic_timeseries_classification",
        modality="timeseries",
        model_prefixes=("CLS_",),
        description=(
            "Assign one class to each window of a recording (e.g. motor normal / imbalance / bearing fault). "
            "Data: classes/<class_name>/<recording>.csv. Models: CLS_*. Metrics: accuracy, macro F1, "
            "confusion matrix, ROC-AUC, file-level majority vote."
        ),
        metrics=(*_CLASS_METRICS, "file_level"),
        **_CLASSIFICATION,
        generators=("motor_fault",),
    )
)
_add(
    TaskRecord(
        name="regression",
        task_type="generic_timeseries_regression",
        modality="timeseries",
        model_prefixes=("REGR_",),
        by_class=False,
        description=(
            "Predict one or more continuous values per window (e.g. torque from currents). "
            "Data: files/*.csv with the target in the last column unless "
            "data_processing_feature_extraction.target_columns names it. Models: REGR_*. Metrics: MAE, RMSE, R2."
        ),
        metrics=("mae", "rmse", "r2"),
        primary_metric="rmse",
        generators=("regression",),
    )
)
_add(
    TaskRecord(
        name="forecasting",
        task_type="generic_timeseries_forecasting",
        modality="timeseries",
        model_prefixes=("FCST_",),
        by_class=False,
        needs_horizon=True,
        description=(
            "Predict the next `horizon` steps of some variables from a window of past values. "
            "Data: files/*.csv; data_processing_feature_extraction names forecast_variables and horizon. "
            "Models: FCST_*. Metrics: MAE, RMSE, SMAPE per horizon step."
        ),
        metrics=("mae", "rmse", "smape", "smape_per_step"),
        primary_metric="rmse",
        generators=("forecasting",),
    )
)
_add(
    TaskRecord(
        name="anomalydetection",
        task_type="generic_timeseries_anomalydetection",
        modality="timeseries",
        model_prefixes=("AD_",),
        by_class=True,
        label_names=("Normal", "Anomaly"),
        normal_class="Normal",
        description=(
            "Flag windows that do not look like normal operation: an autoencoder is trained on normal data "
            "and a reconstruction-error threshold is chosen on validation data. Data: classes/Normal/ and "
            "anomaly class folders. Models: AD_*. Metrics: precision, recall, F1, ROC-AUC."
        ),
        metrics=("precision", "recall", "f1", "roc_auc", "normal_error", "anomaly_error", "threshold"),
        primary_metric="normal_error",  # mean reconstruction error of the normal validation windows
        generators=("anomaly",),
    )
)
_add(
    TaskRecord(
        name="image_classification",
        task_type="image_classification",
        modality="vision",
        model_prefixes=("IMG_CLS_", "Lenet5"),
        description=(
            "Assign one class to each small image. Data: classes/<class_name>/*.{png,jpg,jpeg,bmp,npy}. "
            "Models: IMG_CLS_*, Lenet5. Metrics: accuracy, macro F1, confusion matrix, ROC-AUC."
        ),
        metrics=_CLASS_METRICS,
        **_CLASSIFICATION,
        scored_as="classification",
        generators=("digits", "shapes"),
    )
)
_add(
    TaskRecord(
        name="audio_classification",
        task_type="audio_classification",
        modality="audio",
        model_prefixes=("KWS_",),
        description=(
            "Keyword spotting: assign one word (class) to each sound clip. Data: classes/<word>/*.wav. "
            "Models: KWS_*. Metrics: accuracy, macro F1, confusion matrix, ROC-AUC."
        ),
        metrics=_CLASS_METRICS,
        **_CLASSIFICATION,
        scored_as="classification",
        generators=("tones", "spoken_words"),
    )
)


def get_task_record(name: str) -> TaskRecord:
    """The record of task ``name`` (``classification``, ``image_classification``, ...); unknown: an
    error listing the known tasks."""
    return TASK_RECORDS[name]


def task_record_of_type(task_type: str) -> TaskRecord:
    """The record whose ``task_type`` (the project YAML's ``common.task_type``) is ``task_type``."""
    for record in TASK_RECORDS.values():
        if record.task_type == task_type:
            return record
    return TASK_RECORDS[task_type]  # the unknown-name error


def task_records(modality: str | None = None) -> list[TaskRecord]:
    """The records of one modality (all when None), in the order they were defined."""
    return [r for r in TASK_RECORDS.values() if modality is None or r.modality == modality]


def modality_tasks(modality: str) -> tuple[str, ...]:
    """The tasks the reference scripts train for the records of ``modality`` (``vision``: classification)."""
    return tuple(dict.fromkeys(r.task for r in task_records(modality)))


def scores_classes(task: str | None) -> bool:
    """Whether a model of ``task`` (None or not a task: no) answers with its largest class score."""
    return task in TASK_RECORDS and TASK_RECORDS[task].scores_classes


# -- views kept from before the records (the tasks of the reference scripts) --------------------
TASKS = tuple(r.name for r in TASK_RECORDS.values() if r.task == r.name)

# task -> model name prefix (the naming convention of the model zoo)
MODEL_PREFIXES = {name: TASK_RECORDS[name].model_prefix for name in TASKS}


def task_from_name(name: str) -> str | None:
    """The task a model name's prefix stands for (``CLS_4k`` -> ``classification``), or None."""
    for task, prefix in MODEL_PREFIXES.items():
        if name.startswith(prefix):
            return task
    return None
