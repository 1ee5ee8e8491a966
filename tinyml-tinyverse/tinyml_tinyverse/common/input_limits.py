"""How far a user's data may go: zip extraction limits and symbolic links out of the data folder.

Torch- and numpy-free, so the modelmaker's config schema takes its defaults from here. A project YAML
sets each field with the ``dataset.<field>`` key named in :data:`CONFIG_KEYS`; the errors name it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputLimits:
    """``max_extract_mb``: the most a zip may unpack to (MB of 10^6 bytes); ``max_compression_ratio``:
    the most a member above 1 MiB, or the whole archive, may shrink in the zip (a zip bomb shrinks
    1000-fold); ``allow_outside_links``: a symbolic link inside the data folder may lead out of it
    (refused by default, like a zip member pointing outside the archive)."""

    max_extract_mb: float = 4096
    max_compression_ratio: float = 200.0
    allow_outside_links: bool = False


CONFIG_KEYS = {
    "max_extract_mb": "dataset.max_extract_mb",
    "max_compression_ratio": "dataset.max_compression_ratio",
    "allow_outside_links": "dataset.allow_outside_links",
}
