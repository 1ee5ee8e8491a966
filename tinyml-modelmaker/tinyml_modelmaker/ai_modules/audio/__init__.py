"""The audio modality: keyword spotting (``common.target_module: audio``).

Clips in ``classes/<word>/*.wav`` are read by tinyverse's ``audio`` data modality (resampling, MFCC or
log-mel front end that compiles to C with the model); the stages are those of time series.
Torch-free to import.
"""
