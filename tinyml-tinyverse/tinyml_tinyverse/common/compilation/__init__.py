"""Compilation of ONNX models to verified C for microcontrollers.

Keep this ``__init__`` light: ``devices`` must import without torch or onnx.
"""
