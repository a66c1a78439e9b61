"""Kubernetes label selectors as text (`app=web,tier in (a,b),!legacy`), the syntax kustomize's
patch targets take in `labelSelector` and `annotationSelector` (apimachinery `labels.Parse`).

Parsed when the app config is read, so a malformed selector is refused with file:line rather than
by kustomize, and matched against rendered objects to tell whether a patch target selects anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
KEY = rf"(?:{_PREFIX}/)?{_NAME}"
VALUE = rf"(?:{_NAME})?"
_EXISTS = re.compile(rf"\s*(!?)\s*({KEY})\s*")
_EQUALITY = re.compile(rf"\s*({KEY})\s*(==|=|!=)\s*({VALUE})\s*")
_SET = re.compile(rf"\s*({KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")
_COMPARE = re.compile(rf"\s*({KEY})\s*([<>])\s*(-?\d+)\s*")


class SelectorError(ValueError):
    """The text is not a label selector; the message says which requirement and why."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, <, >
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        # < and >: both sides integers, as apimachinery compares them
        if not present or not re.fullmatch(r"-?\d+", value):
            return False
        return int(value) < int(self.values[0]) if self.operator == "<" else int(value) > int(self.values[0])


@dataclass(frozen=True)
class Selector:
    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """All requirements hold (the empty selector matches everything, as in kustomize)."""
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse a selector; raises SelectorError naming the requirement that is wrong."""
    requirements = []
    for part in _split(text):
        requirements.append(_requirement(part))
    return Selector(text, tuple(requirements))


def _split(text: str) -> list[str]:
    """Requirements are separated by commas outside parentheses (`a in (x,y),b`)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    if len(parts) == 1 and not parts[0].strip():
        return []
    return parts


def _requirement(part: str) -> Requirement:
    if match := _SET.fullmatch(part):
        values = tuple(v.strip() for v in match.group(3).split(","))
        if not any(values):
            raise SelectorError(f"{part.strip()!r}: `{match.group(2)}` needs at least one value")
        bad = [v for v in values if not re.fullmatch(VALUE, v)]
        if bad:
            raise SelectorError(f"{part.strip()!r}: {bad[0]!r} is not a label value")
        return Requirement(match.group(1), match.group(2), values)
    if match := _EQUALITY.fullmatch(part):
        operator = "=" if match.group(2) == "==" else match.group(2)
        return Requirement(match.group(1), operator, (match.group(3),))
    if match := _COMPARE.fullmatch(part):
        return Requirement(match.group(1), match.group(2), (match.group(3),))
    if match := _EXISTS.fullmatch(part):
        return Requirement(match.group(2), "!" if match.group(1) else "exists")
    if not part.strip():
        raise SelectorError("an empty requirement (two commas, or a trailing one)")
    raise SelectorError(
        f"{part.strip()!r} is not a requirement: key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
    )
