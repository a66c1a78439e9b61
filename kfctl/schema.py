"""A small declarative schema for the user's YAML files, with file:line in every error.

The user's own files are read with ruamel.yaml round-trip so each node keeps its line; a
schema is a tree of `Shape`s that checks a node and reports the first problem as
`kfctl.yaml:12: spec.components[3].overlay: expected a string, got a list`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from kfctl.errors import ConfigError


@dataclass(frozen=True)
class Where:
    """A position in a file, and the dotted path of the field there."""

    file: str
    line: int | None
    path: str

    def child(self, key: str | int, line: int | None) -> Where:
        if not isinstance(key, str | int):
            key = f"<{type_name(key)} used as a key>"
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return Where(self.file, line if line is not None else self.line, path)

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        at = f"{self.file}:{self.line}" if self.line else self.file
        field_part = f" {self.path}:" if self.path else ""
        return ConfigError(f"{at}:{field_part} {message}", hint=hint)


def load_yaml_file(path: Path, *, what: str = "file") -> Any:
    """Parse one YAML document with line numbers; syntax errors name file:line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}", hint="check the path passed with -f") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read {what}: {error}") from error
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, source: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{source}:{line}: invalid YAML: {problem}", hint="fix the YAML syntax") from None
    except YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {str(error).splitlines()[0]}") from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise ConfigError(f"{source}: the file is empty", hint="see `kfctl init` for a starting config")
    if len(documents) > 1:
        raise ConfigError(f"{source}: expected one YAML document, found {len(documents)}")
    return documents[0]


def line_of(container: Any, key: str | int) -> int | None:
    """1-based line of a key in a ruamel map or an index in a ruamel sequence."""
    try:
        if isinstance(container, CommentedMap):
            return int(container.lc.key(key)[0]) + 1
        if isinstance(container, CommentedSeq):
            return int(container.lc.item(key)[0]) + 1
    except (KeyError, IndexError, TypeError):
        return None
    return None


def start_line(node: Any) -> int | None:
    if isinstance(node, CommentedMap | CommentedSeq):
        return int(node.lc.line) + 1
    return None


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


class Shape:
    """Checks one node; returns the plain Python value (dicts, lists, scalars)."""

    description = "a value"

    def check(self, value: Any, where: Where) -> Any:
        raise NotImplementedError


@dataclass
class Str(Shape):
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    pattern: str | None = None
    what: str = "a string"

    @property
    def description(self) -> str:  # type: ignore[override]
        return self.what

    def check(self, value: Any, where: Where) -> Any:
        if not isinstance(value, str):
            raise where.error(f"expected {self.what}, got {type_name(value)}")
        choices = self.choices() if callable(self.choices) else self.choices
        if choices is not None and value not in choices:
            raise where.error(f"unknown value {value!r}", hint=suggest(value, choices))
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise where.error(f"{value!r} is not {self.what}")
        return str(value)


@dataclass
class Int(Shape):
    minimum: int | None = None
    description = "an integer"

    def check(self, value: Any, where: Where) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.error(f"expected an integer, got {type_name(value)}")
        if self.minimum is not None and value < self.minimum:
            raise where.error(f"must be at least {self.minimum}, got {value}")
        return int(value)


@dataclass
class Bool(Shape):
    description = "true or false"

    def check(self, value: Any, where: Where) -> Any:
        if not isinstance(value, bool):
            raise where.error(f"expected true or false, got {type_name(value)}")
        return value


@dataclass
class Scalar(Shape):
    """A string, number or boolean (parameter values, resource quantities)."""

    description = "a string, number or boolean"

    def check(self, value: Any, where: Where) -> Any:
        if isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str)):
            raise where.error(f"expected a string, number or boolean, got {type_name(value)}")
        if value is None:
            raise where.error("expected a value, got null")
        return value if isinstance(value, bool | int | float) else str(value)


@dataclass
class AnyValue(Shape):
    """Free-form content (kustomize patches, tenant settings checked elsewhere); made plain."""

    def check(self, value: Any, where: Where) -> Any:
        return plain(value)


@dataclass
class ListOf(Shape):
    item: Shape
    min_items: int = 0

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.description}"

    def check(self, value: Any, where: Where) -> Any:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise where.error(f"expected a list, got {type_name(value)}")
        if len(value) < self.min_items:
            raise where.error(f"needs at least {self.min_items} item(s)")
        return [self.item.check(v, where.child(i, line_of(value, i))) for i, v in enumerate(value)]


@dataclass
class MapOf(Shape):
    value: Shape
    key: Str = field(default_factory=Str)

    description = "a mapping"

    def check(self, value: Any, where: Where) -> Any:
        if not isinstance(value, Mapping):
            raise where.error(f"expected a mapping, got {type_name(value)}")
        result = {}
        for key, item in value.items():
            child = where.child(str(key), line_of(value, key))
            self.key.check(key, child)
            result[str(key)] = self.value.check(item, child)
        return result


@dataclass
class Field:
    shape: Shape
    required: bool = False
    default: Any = None


@dataclass
class Obj(Shape):
    fields: dict[str, Field]
    description = "a mapping"

    def check(self, value: Any, where: Where) -> Any:
        if not isinstance(value, Mapping):
            raise where.error(f"expected a mapping, got {type_name(value)}")
        for key in value:
            if key not in self.fields:
                raise where.child(str(key), line_of(value, key)).error(
                    "unknown field", hint=suggest(str(key), list(self.fields), noun="field")
                )
        result: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name in value:
                result[name] = spec.shape.check(value[name], where.child(name, line_of(value, name)))
            elif spec.required:
                raise where.child(name, start_line(value)).error(
                    "required field is missing", hint=f"add `{name}:` ({spec.shape.description})"
                )
            else:
                result[name] = spec.default() if callable(spec.default) else spec.default
        return result


@dataclass
class Either(Shape):
    """A shorthand and its long form, told apart by YAML type (e.g. `cert-manager` or `{name: ...}`)."""

    short: Shape
    long: Shape
    normalize: Callable[[Any], Any]

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.short.description} or {self.long.description}"

    def check(self, value: Any, where: Where) -> Any:
        if isinstance(value, Mapping):
            return self.long.check(value, where)
        if isinstance(value, str):
            return self.normalize(self.short.check(value, where))
        raise where.error(f"expected {self.description}, got {type_name(value)}")


@dataclass
class NotSupportedYet(Shape):
    """A field the format reserves but kfctl does not implement yet: refused rather than ignored,
    so a user who writes it is told it does nothing. Empty values carry nothing and pass."""

    hint: str

    def check(self, value: Any, where: Where) -> Any:
        if value is None or (isinstance(value, Mapping | Sequence) and not isinstance(value, str) and not value):
            return None
        raise where.error("not supported yet", hint=self.hint)


@dataclass
class Checked(Shape):
    """A shape, then a check of the value it returns, for grammars a pattern cannot say well (image
    references, selectors, patch bodies). `validate(value, node, where)` raises `where.error(...)`;
    `node` is the YAML node, for the lines of its fields."""

    shape: Shape
    validate: Callable[[Any, Any, Where], None]

    @property
    def description(self) -> str:  # type: ignore[override]
        return self.shape.description

    def check(self, value: Any, where: Where) -> Any:
        result = self.shape.check(value, where)
        self.validate(result, value, where)
        return result


def suggest(value: str, choices: Sequence[str], noun: str = "value") -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    listed = ", ".join(sorted(choices)[:12])
    more = ", …" if len(choices) > 12 else ""
    return f"known {noun}s: {listed}{more}"


def plain(value: Any) -> Any:
    """ruamel's commented containers to plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)
