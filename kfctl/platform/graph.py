"""The component dependency graph: topological waves, with cycles and gaps named."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kfctl.errors import ConfigError


def dependency_closure(selected: Iterable[str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """`selected` plus everything it needs, in a stable order (selection order, then discovery)."""
    result: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(list(selected)))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        result.append(name)
        stack.extend(reversed(list(depends_on.get(name, ()))))
    return result


def waves(depends_on: Mapping[str, Iterable[str]], *, where: str = "components") -> list[list[str]]:
    """Group components into waves: every component's dependencies are in earlier waves.

    Components in one wave are independent of each other and may be applied in parallel.
    Raises ConfigError naming the missing dependency or the cycle.
    """
    graph = {name: list(dict.fromkeys(deps)) for name, deps in depends_on.items()}
    for name, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                raise ConfigError(
                    f"{where}: {name} depends on {dep}, which is not enabled",
                    hint=f"enable {dep} in spec.components, or remove {name}",
                )
    remaining = dict(graph)
    done: set[str] = set()
    result: list[list[str]] = []
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if all(d in done for d in deps))
        if not ready:
            cycle = find_cycle(remaining)
            raise ConfigError(
                f"{where}: dependency cycle: {' -> '.join(cycle)}",
                hint="remove one of these dependsOn edges",
            )
        result.append(ready)
        done.update(ready)
        for name in ready:
            del remaining[name]
    return result


def find_cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """One cycle in `graph` (which must contain one), as a closed path a -> b -> a."""
    visiting: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        visiting.append(node)
        for dep in sorted(graph.get(node, [])):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*visiting[visiting.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        visiting.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return sorted(graph)


def transitive_dependents(depends_on: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Every node's dependents, direct or not (`depends_on`: node → what it needs)."""
    direct: dict[str, set[str]] = {name: set() for name in depends_on}
    for name, needs in depends_on.items():
        for dependency in needs:
            direct.setdefault(dependency, set()).add(name)
    result: dict[str, set[str]] = {}

    def collect(name: str) -> set[str]:
        if name not in result:
            result[name] = set()
            for child in direct.get(name, ()):
                result[name] |= {child} | collect(child)
        return result[name]

    for name in depends_on:
        collect(name)
    return result
