"""The names of the files each stage writes into its output folder, named once for both packages.

The tinyverse stages write them (dataset preparation, the training and testing references, the
compiler) and the modelmaker reads them back from the run folder
``<run>/{dataset,training/base,training/quantization,testing,compilation}/``. No imports.
"""

from __future__ import annotations

# -- dataset stage (``prepare_dataset`` -> dataset/) ----------------------------------------------
DATASET_INFO = "dataset_info.yaml"  # the modality, task, root, classes, splits; read by every later stage
DATASET_SUMMARY = "dataset_summary.yaml"  # counts per split and class, data ranges
ANNOTATIONS_DIR = "annotations"  # the split lists
FILE_LIST = "file_list.txt"  # every file of the dataset, one path a line
PENDING_PLOTS = "plots_pending.npz"  # the dataset plots' data until they are drawn
CACHE_DIR = "cache"  # model-ready arrays of the splits


def split_list(split: str) -> str:
    """``train_list.txt``: the files of one split, one path a line."""
    return f"{split}_list.txt"


# -- training stage (the reference ``train`` -> training/base/, training/quantization/) ----------
SUMMARY = "summary.yaml"  # the training summary (metrics, files, class names, threshold)
TRAINING_LOG = "training_log.csv"  # one row per epoch
BEST_MODEL = "best_model.pt"  # the best epoch's weights
CHECKPOINT = "checkpoint.pt"  # the last epoch, to resume
MODEL_ONNX = "model.onnx"  # the float model
MODEL_CONFIG = "model_config.yaml"  # an inline training.model_config, written for the script
MODEL_QAT = "model_qat.onnx"  # the fake-quantized model after QAT
MODEL_QDQ = "model_qdq.onnx"  # the int8 model as QDQ ONNX
QUANTIZED_GRAPH = "quantized_graph.npz"  # the int8 model for the compiler
GOLDEN_VECTORS = "golden_vectors.npz"  # inputs and int8 outputs of the integer reference
REFERENCE_OUTPUTS = "reference_outputs.npz"  # best_model.pt's outputs on the test split, for testing

# -- testing (the reference ``test_onnx`` -> testing/ and training/base/) ------------------------
TEST_METRICS = "test_metrics.yaml"
PREDICTIONS = "predictions.csv"  # one row per test example
TEST_PREDICTIONS = "test_predictions.csv"  # regression: true and predicted targets
FILE_LEVEL_SUMMARY = "file_level_summary.csv"  # classification: majority vote per recording
FPR_TPR_THRESHOLDS = "fpr_tpr_thresholds.csv"  # ROC points
THRESHOLD_PERFORMANCE = "threshold_performance.csv"  # anomaly detection: metrics per threshold
SMAPE_PER_STEP = "smape_per_step.csv"  # forecasting: SMAPE per horizon step

# -- compilation stage (``compile_model`` -> compilation/) ----------------------------------------
COMPILE_REPORT = "compile_report.json"
MEMORY_REPORT = "memory_report.json"

# -- the modelmaker's run folder ----------------------------------------------------------------
CONFIG_RESOLVED = "config_resolved.yaml"  # the config after defaults and checks
RUN_SUMMARY = "run_summary.yaml"  # each stage's status and figures
DATA_CONFIG = "data_config.yaml"  # the data section, for the reference scripts
