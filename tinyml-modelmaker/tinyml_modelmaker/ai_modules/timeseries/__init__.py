"""The time-series modality: classification, regression, forecasting and anomaly detection.

Torch-free to import; ``runner`` loads tinyverse's heavy parts when a stage needs them.
"""
