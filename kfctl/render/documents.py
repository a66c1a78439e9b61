"""Rendered documents: kustomize's output split into objects, read only as far as needed.

Ordering, duplicate checks and `kfctl build` need only an object's identity (apiVersion, kind,
name, namespace); reading that from kustomize's normalised YAML is a line scan, while a full YAML
parse of the whole platform (~10 MB) costs seconds. The full object is parsed on first use, and
the build output is kustomize's own text, byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kfctl.errors import RenderError
from kfctl.platform.kinds import apply_order_key, group_of
from kfctl.render.yamlload import load_rendered

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TOP_KEY = re.compile(r"^(apiVersion|kind):[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_METADATA_BLOCK = re.compile(r"^metadata:[ \t]*\n((?:(?:[ \t]+.*)?\n)*)", re.MULTILINE)
_META_KEY = re.compile(r"^  (name|namespace):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


@dataclass
class RenderedDocument:
    """One object as kustomize printed it, with its identity read from the text."""

    text: str
    api_version: str
    kind: str
    name: str
    namespace: str
    _parsed: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def order(self) -> tuple[int, int, str, str, str, str]:
        """Where it goes in apply order (kfctl.platform.kinds)."""
        return apply_order_key(*self.key)

    @property
    def parsed(self) -> bool:
        return self._parsed is not None

    def prime(self, obj: dict[str, Any]) -> None:
        """The object as parsed before (the render cache keeps it): no YAML parse on first use."""
        self._parsed = obj

    @property
    def obj(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = load_rendered(self.text)
        return self._parsed


def split_documents(text: str, origin: str) -> list[RenderedDocument]:
    """Split kustomize output into documents and read each one's identity; validate it."""
    documents = []
    for index, chunk in enumerate(_SEPARATOR.split(text)):
        if not chunk.strip() or all(line.startswith("#") or not line.strip() for line in chunk.splitlines()):
            continue
        body = chunk.strip("\n") + "\n"
        document = _identify(body) or _identify_by_parsing(body, origin, index)
        missing = [
            label
            for label, value in (
                ("apiVersion", document.api_version),
                ("kind", document.kind),
                ("metadata.name", document.name),
            )
            if not value
        ]
        if missing:
            raise RenderError(f"{origin}: object {index} ({document.kind or '?'}) lacks {', '.join(missing)}")
        if "$(" in document.name or "$(" in document.namespace:
            raise RenderError(
                f"{origin}: {document.kind} {document.name!r} has an unresolved kustomize variable in its name",
                hint="this kustomize resolves the manifests' vars/replacements differently; "
                "use kustomize v5.4-v5.7 (--kustomize-bin)",
            )
        documents.append(document)
    return documents


def _identify(body: str) -> RenderedDocument | None:
    """Identity from the text alone; None when the layout is not kustomize's plain one."""
    top = dict(_TOP_KEY.findall(body))
    metadata = _METADATA_BLOCK.search(body)
    if len(top) != 2 or metadata is None:
        return None
    meta = dict(_META_KEY.findall(metadata.group(1)))
    values = [top["apiVersion"], top["kind"], meta.get("name", ""), meta.get("namespace", "")]
    if any(_needs_parsing(v) for v in values):
        return None
    return RenderedDocument(body, *values)


def _needs_parsing(value: str) -> bool:
    # Quoted, flow or block values are left to the YAML parser.
    return bool(value) and (value[0] in "'\"{[|>&*!" or "#" in value)


def _identify_by_parsing(body: str, origin: str, index: int) -> RenderedDocument:
    try:
        parsed = load_rendered(body)
    except yaml.YAMLError as error:
        raise RenderError(f"{origin}: kustomize produced invalid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise RenderError(f"{origin}: document {index} is not a Kubernetes object")
    metadata = parsed.get("metadata") or {}
    return RenderedDocument(
        body,
        str(parsed.get("apiVersion") or ""),
        str(parsed.get("kind") or ""),
        str(metadata.get("name") or ""),
        str(metadata.get("namespace") or ""),
        parsed,
    )
