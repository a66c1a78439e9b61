"""The fast reader of rendered YAML reads every document as PyYAML does (YAML 1.1, like the API server's
decoder), including the plain scalars where YAML 1.2 differs. Every release's render is compared too, in
test_render_current_releases.py (kfctl's objects against the example parsed by PyYAML)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from kfctl.render import yamlload
from kfctl.render.yamlload import load_rendered

PYYAML = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Each one a document the two YAML versions read differently, or a construct only PyYAML resolves alike.
DIFFERING = [
    "mode: 0644",
    "mode: -0644",
    "items: [0644, 1]",
    "items:\n- 0755\n",
    "{a: 0644}",
    "flag: on",
    "flag: yes",
    "flag: No",
    "flag: OFF",
    "flag: y",
    "on: push",
    "items: [on, off]",
    "nested:\n  deep:\n  - x: yes\n",
    "time: 1:30",
    "time: 190:20:30.15",
    "big: 1e3",
    "big: 1.5e3",
    "octal: 0o14",
    "binary: 0b101",
    "date: 2024-01-01",
    "stamp: 2001-12-14t21:59:43.10-05:00",
    "data: !!binary aGk=",
    "value: !!str 12",
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
    "key: 1\nkey: 2\n",
    "float: 1.5",
    "inf: .inf",
    "sep: 1_000",
]
# Documents both read alike: yaml-rs reads them.
SAME = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  on: 'yes'\n",
    "a: 'on'",
    'a: "0644"',
    "a: 0x1F",
    "a: 0",
    "a: [0, 10, 100]",
    "a: ~\nb: null\nc:\n",
    "a: true\nb: False",
    "a: |\n  on\n  0644\n",
    "a: 'it''s'\nb: \"\\u00e9\"",
    "a: -12\nb: +12",
    "a: 12345678901234567890",
]


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=PYYAML)


@pytest.mark.parametrize("text", DIFFERING + SAME)
def test_fast_reader_reads_as_pyyaml(text: str) -> None:
    assert load_rendered(text) == pyyaml(text)


def test_the_two_readers_do_differ_on_the_ambiguous_scalars() -> None:
    """Without the guard yaml-rs would read these otherwise: the cases above test the guard, not nothing."""
    yaml_rs = yamlload.yaml_rs
    assert yaml_rs is not None, "yaml-rs is a dependency of kfctl"
    differing = []
    for text in DIFFERING:
        try:
            if yaml_rs.loads(text) != pyyaml(text):
                differing.append(text)
        except Exception:  # refusing is differing too
            differing.append(text)
    assert len(differing) >= 20, differing


def test_fast_reader_is_used_for_plain_kubernetes_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: kubeflow\nspec:\n"
        "  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
        "        ports:\n        - containerPort: 8080\n"
    )
    assert yamlload.yaml_rs is not None, "yaml-rs is a dependency of kfctl"
    monkeypatch.setattr(yamlload, "load_plain_yaml", lambda *a, **k: pytest.fail("PyYAML used for a plain object"))
    assert load_rendered(text)["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]


def test_nan_is_read_as_nan() -> None:
    assert math.isnan(load_rendered("a: .nan")["a"])


def test_cel_rules_with_negations_are_read_by_yaml_rs(monkeypatch: pytest.MonkeyPatch) -> None:
    """CRD validation rules are full of `!has(...)` and `!=`; they are no tags and need no PyYAML."""
    text = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a\nspec:\n"
        "  x-kubernetes-validations:\n  - rule: self.all(key, !key.contains('*'))\n"
        "  - rule: 'self.type != \"x\" ? !has(self.y) : true'\n"
    )
    monkeypatch.setattr(yamlload, "load_plain_yaml", lambda *a, **k: pytest.fail("PyYAML used for CEL rules"))
    assert len(load_rendered(text)["spec"]["x-kubernetes-validations"]) == 2


@pytest.mark.parametrize("text", ["a: !custom x", "a:\n- !custom x", "a: [!custom x]", "!custom\na: 1"])
def test_local_tags_are_left_to_pyyaml(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        pyyaml(text)
    with pytest.raises(yaml.YAMLError):
        load_rendered(text)
