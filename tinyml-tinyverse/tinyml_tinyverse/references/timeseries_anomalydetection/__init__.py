"""Time-series anomalydetection: ``train.py`` trains a model, ``test_onnx.py`` tests an ONNX model."""
