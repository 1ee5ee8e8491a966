"""tinyml_modelmaker: run a TinyML project (dataset -> training -> testing -> compilation) from one YAML."""

__version__ = "0.1.0"
