"""tinyml_tinyverse: models, transforms, datasets, training, quantization and compilation for TinyML.

Importing the package is cheap: sub-packages (and torch) load only when used.
"""

__version__ = "0.1.0"
