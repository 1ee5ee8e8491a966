"""The op families of the compiler, one module each, found by the registries of :mod:`..op`.

Each module registers the ONNX ops it translates (``ONNX_OPS``) and the IR ops it defines (``OPS``:
float run, quantization, integer run, QDQ export, C emission); its C kernels are in the ``.c`` file
of the same name. Modules whose names start with ``_`` hold shared helpers and register nothing.
"""
