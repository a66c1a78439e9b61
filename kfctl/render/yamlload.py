"""Loading rendered YAML fast without reading it differently from the API server.

A full Kubeflow render is ~10 MB of YAML, most of it CRD schemas; PyYAML's constructor (Python code even
behind the C parser) spends ~2.4 s of CPU on it, yaml-rs (Rust) ~0.3 s. yaml-rs reads YAML 1.2, while PyYAML
and the API server's decoder (sigs.k8s.io/yaml over go-yaml v2) read YAML 1.1, and the two disagree on
some plain scalars: `0644` (420 or 644), `on`/`yes`/`no` (booleans or strings), `1:30` (sexagesimal),
`1e3`, `0o14`, `0b1`, tags, merge keys. kustomize quotes a string that YAML 1.1 would read as something else,
so its output rarely holds one; a document that may (its text has a tag or a leading-zero number, or what
yaml-rs read holds a string YAML 1.1 reads otherwise, a float or a date), or that yaml-rs refuses (a
duplicate key), is read by PyYAML as before. Same objects either way: tests/unit/test_yamlload.py and the release render
tests compare the two.
"""

from __future__ import annotations

import re
from typing import Any

from kfctl.plain_yaml import load_plain_yaml

yaml_rs: Any
try:
    import yaml_rs
except ImportError:  # pragma: no cover - no wheel for this platform: PyYAML reads everything
    yaml_rs = None

# Strings YAML 1.1 reads as booleans (or as the `=` value key) where YAML 1.2 reads strings.
_YAML11_WORDS = frozenset(["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"])
_YAML11_WORDS |= {"on", "On", "ON", "off", "Off", "OFF", "="}
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
# Where a plain number may start: YAML 1.1 reads 0644 as octal 420, YAML 1.2 as 644; 0o14 and 0b1 the other way.
_NUMBER_STARTS = (": 0", ": -0", ": +0", "- 0", "- -0", "[0", ",0", ", 0", "{0")
_AFTER_ZERO = frozenset("0123456789_oObB")
# Where a local tag (`!name`) may start a value; not `, !` or ` !`, which CEL rules (`!has(x)`, `!=`) are full of.
_LOCAL_TAG_STARTS = (": !", "- !", "[!", "{!", "\n!")


def _text_is_plain(text: str) -> bool:
    """No tag, merge key or leading-zero number in the text: str.find runs in C, a regex over ~10 MB does not."""
    if "!!" in text or "<<" in text or text.startswith("!") or any(tag in text for tag in _LOCAL_TAG_STARTS):
        return False
    for start in _NUMBER_STARTS:
        index = text.find(start)
        while index != -1:
            if text[index + len(start) : index + len(start) + 1] in _AFTER_ZERO:
                return False
            index = text.find(start, index + 1)
    return True


def _same_in_yaml11(value: Any) -> bool:
    """Whether every scalar yaml-rs read would read the same in YAML 1.1: strings that 1.1 reads as booleans
    or sexagesimal numbers, floats (1e3 is a string there) and dates send the document to PyYAML."""
    pending = [value]
    while pending:
        node = pending.pop()
        items = node.items() if type(node) is dict else ((None, item) for item in node)
        for key, item in items:
            if key is not None and (type(key) is not str or key in _YAML11_WORDS):
                return False
            kind = type(item)
            if kind is dict or kind is list:
                pending.append(item)
            elif kind is str:
                if item in _YAML11_WORDS or (item[:1].isdigit() and _SEXAGESIMAL.match(item)):
                    return False
            elif not (kind is int or kind is bool or item is None):
                return False
    return True


def load_rendered(text: str) -> Any:
    """One YAML document as PyYAML (and the API server) read it, through yaml-rs when that is the same."""
    if yaml_rs is not None and _text_is_plain(text):
        try:
            parsed = yaml_rs.loads(text)
        except Exception:  # yaml-rs refuses what PyYAML accepts (duplicate keys): PyYAML decides
            parsed = None
        if type(parsed) is dict and _same_in_yaml11(parsed):
            return parsed
    return load_plain_yaml(text)
