"""Small Python helpers shared across tinyverse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DictPlus(dict):
    """An insertion-ordered dict that grows with ``+=`` and refuses duplicate keys.

    Used to write layer specs in order::

        layers = DictPlus()
        layers += {'conv1': dict(type='ConvBNReLULayer', out_channels=4, kernel_size=(5, 1))}
        layers += {'fc': dict(type='LinearLayer', out_features=3)}
    """

    def __iadd__(self, other: Mapping[str, Any]) -> DictPlus:
        for key, value in other.items():
            if key in self:
                raise KeyError(f"duplicate layer name {key!r}: every entry of a DictPlus needs its own name")
            self[key] = value
        return self

    def __add__(self, other: Mapping[str, Any]) -> DictPlus:
        out = DictPlus(self)
        out += other
        return out
