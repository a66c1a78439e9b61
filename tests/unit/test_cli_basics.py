"""The command line's contract: exit codes, data on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kfctl.errors import ConfigError, ExitCode, KfctlError


def kfctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfctl", *args], capture_output=True, text=True, timeout=60)


def test_client_version_is_json_on_stdout() -> None:
    result = kfctl("version", "--client", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kind"] == "Version"
    assert document["apiVersion"].startswith("kfctl.dev/")
    assert document["client"]["version"]
    assert "server" not in document


def test_unreachable_server_is_reported_not_fatal_for_version(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: s3cr3t-token-value}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
    )
    result = kfctl("--kubeconfig", str(kubeconfig), "version", "-o", "json")
    assert result.returncode == 0
    server = json.loads(result.stdout)["server"]
    assert "cannot reach the API server at https://127.0.0.1:1" in server["error"]
    assert "s3cr3t" not in result.stdout + result.stderr, "credentials are never printed"


def test_bad_option_is_usage_error() -> None:
    result = kfctl("version", "-o", "xml")
    assert result.returncode == ExitCode.BAD_INPUT
    assert result.stdout == ""


def test_error_one_line_folds_whitespace_and_keeps_hint() -> None:
    error = ConfigError("kfctl.yaml:3: field\n  'profile' is required", hint="add profile: simulated")
    assert error.one_line() == "kfctl.yaml:3: field 'profile' is required (add profile: simulated)"
    assert error.exit_code == ExitCode.BAD_INPUT
    assert KfctlError("x").exit_code == ExitCode.FAILED


def test_help_does_not_import_the_kubernetes_client() -> None:
    """`kfctl --help` stays fast: heavy imports happen inside the commands that need them."""
    probe = "import sys, kfctl.cli.main; print(sorted(m for m in ('kubernetes', 'httpx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert kfctl("--help").returncode == 0


def test_the_readme_documents_every_exit_code() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
