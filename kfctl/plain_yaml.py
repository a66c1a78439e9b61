"""PyYAML's C loader: the one way kfctl reads YAML fast, without line numbers (the user's own files are read
with lines by kfctl.schema)."""

from __future__ import annotations

from typing import Any


def load_plain_yaml(text: str) -> Any:
    """One YAML document through PyYAML's C loader when PyYAML was built with libyaml. Raises yaml.YAMLError."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
