"""Start-up stays light: `kfctl --help`, `kfctl <command> --help` and `kfctl version --client` load typer
and the command modules, never the libraries and core packages that only running a command needs.

What a process imports, read from `python -X importtime`: a behaviour to assert, where a duration
would only be a flaky test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Loaded inside the commands that use them, never at start-up.
HEAVY = (
    "httpx",
    "kfctl.http",
    "yaml",
    "ruamel",
    "kubernetes",
    "jsonschema",
    "packaging",
    "kfctl.config",
    "kfctl.deploy",
    "kfctl.kube.client",
    "kfctl.platform",
    "kfctl.preflight.report",
    "kfctl.preflight.runner",
    "kfctl.render",
    "kfctl.schema",
    "yaml_rs",
    "pydantic",  # typer 0.29 and later validate every parameter through it: pinned below 0.29
)
# Help is plain text (rich_markup_mode=None) and tables are aligned text: rich loads only for logs.
HELP_ONLY = ("rich", "typer.rich_utils")


def imported_modules(*args: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kfctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "kfctl.cli.main" in modules, "no -X importtime lines: the probe itself is broken"
    return modules


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("apply", "--help"),
        ("preflight", "--help"),
        ("images", "--help"),
        ("profiles", "show", "--help"),
        ("version", "--help"),
    ],
    ids=" ".join,
)
def test_help_loads_no_heavy_module(args: tuple[str, ...]) -> None:
    modules = imported_modules(*args)
    assert loaded(modules, (*HEAVY, *HELP_ONLY)) == []


@pytest.mark.parametrize("output", ["table", "json"])
def test_client_version_loads_no_heavy_module(output: str) -> None:
    modules = imported_modules("version", "--client", "-o", output)
    assert loaded(modules, (*HEAVY, *HELP_ONLY)) == []


def test_the_http_client_loads_without_trio_or_the_httpx_command_line() -> None:
    """httpcore probes for trio and httpx for its CLI (click, rich, pygments) at import: ~0.2 s kfctl never needs;
    afterwards the probed names are importable again (kfctl.http hides them only while httpx loads)."""
    probe = (
        "import sys, kfctl.kube.client\n"
        "print(sorted(m for m in ('trio', 'httpx._main', 'pygments', 'click') if sys.modules.get(m)))\n"
        "print(sorted(m for m in ('trio', 'httpx._main') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "[]"]
