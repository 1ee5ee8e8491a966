"""Human descriptions of every task, section, parameter and preset of the time-series modality.

``tinyml-modelmaker --describe [TOPIC]`` prints them and ``docs/config_reference.md`` is generated
from them (``tinyml-modelmaker --describe --markdown > docs/config_reference.md``). Torch-free.
"""

from __future__ import annotations

from tinyml_tinyverse.common.compilation.presets import PRESET_REGISTRY

from .constants import RECORDS

TASK_DESCRIPTIONS = {r.task_type: r.description for r in RECORDS}  # from the task records

SECTION_DESCRIPTIONS = {
    "common": "What the project is: modality, task, target device and where runs are written.",
    "dataset": "Where the data comes from and how it is split into train / val / test.",
    "data_processing_feature_extraction": (
        "How windows are cut and features extracted: the tinyverse data_config, whose keys, defaults and "
        "checks live in tinyml_tinyverse.common.datasets (DATA_CONFIG_DEFAULTS / validate_data_config). "
        "A preset (feature_extraction_name) fills several keys; keys written here win over the preset."
    ),
    "search": (
        "Searching the model zoo under the target's budget (training.model_name: auto): candidates that cannot "
        "fit are rejected from the compiler's figures before training, the others train with pruning (Optuna); "
        "the winner then goes through training, testing and compilation. See docs/search.md."
    ),
    "training": "The model and how it is trained and quantized.",
    "testing": "Metrics of the float and quantized ONNX models on the test split.",
    "compilation": "Turning the model into verified C for the target device.",
}

PARAM_DESCRIPTIONS = {
    "common": {
        "target_module": "The modality: `timeseries` (this one), `vision` or `audio`. Found by name under tinyml_modelmaker/ai_modules/.",
        "task_type": "The task (required); see `--describe tasks`.",
        "target_device": "The chip the model is compiled for; see `--describe devices`. NPU targets get the NPU rules checked before training.",
        "run_name": (
            "Folder of this run under <projects_path>/<dataset_name>/run/. Placeholders: {date-time} "
            "(YYYYMMDD-HHMMSS) and {model_name}. An existing run folder is never overwritten: pass a new "
            "run_name (--run-name) or --resume."
        ),
        "projects_path": "Root folder of all projects; relative paths start at the current directory.",
    },
    "dataset": {
        "enable": (
            "Run the dataset stage. When false, the run folder must already hold a dataset stage output (from an "
            "earlier run with --resume), or input_data_path must be a prepared dataset/ folder or an earlier run folder."
        ),
        "dataset_name": "Names the project folder <projects_path>/<dataset_name>/. Default: the last part of input_data_path (without .zip or a single file's extension).",
        "input_data_path": (
            "A data folder, a .zip or a single file in the documented layouts (classes/<label>/*.csv for "
            "classification and anomaly detection, files/*.csv for regression and forecasting), or "
            "generated://<motor_fault|regression|forecasting|anomaly> to generate an example dataset into "
            "<projects_path>/<dataset_name>/generated/ the first time (generated_<hash>/ when generator_config is set)."
        ),
        "generator_config": "Keyword arguments of the dataset generator when input_data_path is generated://<name> (e.g. sizes for a quick test).",
        "split_type": "amongst_files: whole recordings go to one split (no leakage). within_files: each recording's rows are cut in order.",
        "split_factor": "Fractions [train, val, test] summing to 1. Annotation lists shipped with the data win.",
        "seed": "Seed of the split (the same seed gives the same split).",
        "max_extract_mb": (
            "The most a .zip input may unpack to, in MB; checked from the zip directory before anything is written "
            "and again on the bytes written. Raise it for a genuine larger archive."
        ),
        "max_compression_ratio": (
            "The most a .zip member above 1 MiB (or the whole archive) may shrink in the zip; a zip bomb shrinks "
            "about 1000-fold, CSV recordings 2 to 10-fold. Raise it for genuine, very repetitive data."
        ),
        "allow_outside_links": (
            "Follow a symbolic link inside the data folder that leads out of it. Refused by default, like a zip "
            "member pointing outside the archive."
        ),
    },
    "training": {
        "enable": "Run the training stage. When false, testing and compilation use the model an earlier run left in this run folder.",
        "model_name": (
            "A model of the zoo made for the task (CLS_*, REGR_*, FCST_*, AD_*) or one you registered; see "
            "`--describe models`. `auto` searches the zoo under the target's budget (the search section)."
        ),
        "model_config": "A model_config YAML path (or a mapping) overriding the model's __init__ arguments.",
        "model_module": (
            "Your own models without editing the installed package: a Python file or package folder (relative "
            "paths start at the YAML's folder), an importable module name, or a list of them. Imported before the "
            "model check; the models it registers, its MODEL_REGISTRY dict, or else its GenericModelWithSpec "
            "classes (by class name) become usable as model_name. Installed packages can instead declare the "
            "entry-point group tinyml_tinyverse.models."
        ),
        "batch_size": "Samples per step; null lets the training script fit it to the data size.",
        "training_epochs": (
            "Maximum number of float training epochs (early stopping may end sooner). null: 50, raised on small "
            "data, where an epoch is a few optimizer steps, to give min_steps steps; a number is used as it is."
        ),
        "min_steps": "With training_epochs null: at least this many optimizer steps (epochs are raised to reach them).",
        "learning_rate": "Peak learning rate (after warmup).",
        "optimizer": "adam, adamw or sgd (momentum 0.9).",
        "weight_decay": "L2 weight decay.",
        "lr_scheduler": "cosine, step or none; with warmup_epochs of linear warmup.",
        "warmup_epochs": "Epochs of linear learning-rate warmup.",
        "ema_decay": (
            "Keep an exponential moving average of the weights with this decay per optimizer step and use it "
            "(validation, best epoch, export, quantization) instead of the last step's weights; 0: off."
        ),
        "choose_augmentation": (
            "auto: when the refit runs (small classification data) and the data config has no augmentation, train the "
            "first phase a second time with random shifts (Shift) and refit with them if the val loss is lower; off."
        ),
        "early_stopping_patience": "Stop after this many epochs without a better best_epoch_by figure (0: never stop early).",
        "best_epoch_by": (
            "What picks the best epoch and stops early in classification: loss (the validation cross entropy, smooth "
            "even on a validation split of a few recordings) or metric (accuracy). Regression, forecasting and anomaly "
            "detection, whose metric is their loss, use their metric either way."
        ),
        "min_epochs": "No early stop before this many epochs, and no shorter refit; null: a quarter of training_epochs.",
        "refit": (
            "auto: in classification, when the validation split has fewer than 100 recordings, it only chooses the "
            "epoch count, and the model is trained again from the start on train + val for that many epochs; true: "
            "also for regression and forecasting (never anomaly detection); false: keep the best epoch's weights."
        ),
        "num_gpus": "0: train on the CPU; 1: one process, on a GPU when torch sees one, else the CPU; N > 1: N processes through torch.distributed (N GPUs, or N CPU processes with gloo where there is no CUDA).",
        "seed": "Seed of weights, shuffling and augmentation (same config and seed on CPU give the same metrics).",
        "resume": "Resume training from training/base/checkpoint.pt of this run folder (also set by --resume).",
        "quantization": "0: float only; 1: generic int8; 2: NPU style (power-of-two scales). null: 2 on NPU targets, else 1.",
        "quantization_method": "PTQ (calibrate on training batches) or QAT (fine-tune with fake quantization from the best float model).",
        "quantization_weight_bitwidth": (
            "Weight bits: 8, or 4 / 2 (packed, quantization 2 only), or auto: 8 or 4 bits per layer by measured "
            "sensitivity within quantization_accuracy_budget (0.01 when unset; quantization 2)."
        ),
        "quantization_accuracy_budget": (
            "Most the quantized model's validation metric may lose against the float model (absolute, e.g. 0.01 = "
            "one point of accuracy). Over it: more QAT epochs, other observers, 8-bit weights for the most sensitive "
            "layers, in this order; still over, the run stops with a float vs int8 table per class and per layer."
        ),
        "calibration_observer": "How activation ranges are calibrated: minmax, percentile or mse.",
        "qat_epochs": "QAT fine-tuning epochs; 0: max(10, training_epochs / 5) at a hundredth of the learning rate.",
    },
    "search": {
        "enable": "Run the search stage; null: when training.model_name is auto.",
        "models": "Globs of the zoo models to try, e.g. [CLS_*_NPU]; null: every model of the task.",
        "feature_extraction_names": (
            "Feature-extraction presets to try with each model (the data section's keys you wrote still apply); "
            "null: the data section's."
        ),
        "weight_bitwidths": "Weight bit widths to try, e.g. [8, 4] (4 and 2 need quantization 2); null: quantization_weight_bitwidth.",
        "max_flash_bytes": "Flash budget of the model (weights + code, as memory_report.json measures it); null: the device's flash.",
        "max_ram_bytes": "RAM budget of the model (arena + static data + I/O buffers); null: the device's RAM.",
        "max_latency_us": "Latency budget of one inference (the compiler's estimate: emulated on Cortex-M, model-based on C2000); null: none.",
        "trial_epochs": "Most epochs a candidate trains in the search; null: training.training_epochs (when that is null too: the epochs training would pick, raised to reach min_steps on small data).",
        "min_epochs": "Epochs every candidate trains before the pruner may stop it (the first rung).",
        "reduction_factor": "Successive halving: rungs at min_epochs x factor^k epochs; about 1 in factor trials goes on at each rung.",
        "pruner": "successive_halving, hyperband, median or none (train every candidate fully).",
        "workers": "Worker processes this run starts (itself included); more join with `tinyml-modelmaker search-worker CONFIG`.",
        "storage": (
            "Optuna storage of the study: null is search/study.db (SQLite) in the run folder; an RDB URL "
            "(postgresql://user@host/db) or journal:PATH (a journal file on a shared file system) lets other machines join."
        ),
        "study_name": "Name of the study in the storage; null: <dataset_name>/<run_name>.",
    },
    "testing": {
        "enable": "Run the ONNX model(s) with onnxruntime on the test split and write metrics and plots into testing/.",
    },
    "compilation": {
        "enable": "Run the compilation stage: C sources, test vectors, host build with bit-exact check, memory report.",
        "model_path": (
            "Compile this ONNX model instead of the run's model (compile only: set dataset.enable and "
            "training.enable to false). A float model is quantized (training.quantization) when calibration_data is given, "
            "else compiled as float; a quantized (QDQ) model is compiled as it is."
        ),
        "preset_name": "default_preset, or compress_npu_layer_data to pack NPU layer data tighter; see `--describe presets`.",
        "calibration_data": "A .npy file of model inputs (N, C, H, W) used to calibrate a user's float ONNX model and as its test vectors.",
        "num_test_vectors_per_class": "Test-split samples per class written into test_vector.c and checked bit for bit.",
    },
}

PRESET_DESCRIPTIONS = dict(PRESET_REGISTRY.items())  # from tinyverse's preset registry
