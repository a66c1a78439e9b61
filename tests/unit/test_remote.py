"""Air-gapped rendering: remote resources inside kustomizations, their mirrors (HOST/ORG/REPO@REF/PATH for git
targets, HOST/PATH for files), --mirror, `kfctl sources remote`, and the refusal to render offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from kfctl.platform.remote import find_remote_resources, locate, parse_remote, rewrite_remote_resources
from kfctl.render.kustomize import find_kustomize

KUSTOMIZATION = "kustomization.yaml"
GITHUB = "https://github.com/"
WIDGETS_V1 = "https://github.com/acme/widgets//config/default?ref=v1.0.0"
WIDGETS_V2 = "https://github.com/acme/widgets/config/extra?ref=v2.0.0"  # same repository, no `//`
GADGETS_OLD = "https://github.com/acme/gadgets/releases/download/v0.6.0/manifests.yaml"
GADGETS_NEW = "https://github.com/acme/gadgets/releases/download/v0.10.1/manifests.yaml"
UNUSED = "https://github.com/acme/unused/config?ref=v9"
RELEASES = ("kubeflow-manifests-v1.11.0", "kubeflow-manifests-26.03")


# --- helpers ----------------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  a: b\n"


def folder(path: Path, name: str) -> None:
    """A kustomization folder holding one ConfigMap."""
    write(path / KUSTOMIZATION, "resources:\n- cm.yaml\n")
    write(path / "cm.yaml", configmap(name))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kustomize_names(directory: Path) -> set[str]:
    result = subprocess.run(
        [*find_kustomize().command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return {d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment kfctl runs in: a catalog of our own, caches in tmp, no proxy, no offline switch."""
    variables = {
        k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k not in ("KFCTL_OFFLINE", "KFCTL_CONFIG")
    }
    # This checkout's kfctl, whatever the working directory (an installed kfctl may be another tree).
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    variables["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    variables["KFCTL_CACHE_DIR"] = str(tmp_path / "cache")
    variables["KFCTL_CATALOG_DIR"] = str(tmp_path / "catalogs")
    variables["KFCTL_MANIFESTS_DIR"] = str(tmp_path / "manifests")
    return variables


def kfctl(env: dict[str, str], *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**env, **extra},
        check=False,
    )


def catalog(tmp_path: Path, name: str, dir_name: str, components: dict[str, str], default: list[str]) -> None:
    listed = "\n".join(f"    {key}: {{description: {key}, paths: [{path}]}}" for key, path in components.items())
    write(
        tmp_path / "catalogs" / f"{name}.yaml",
        "apiVersion: kfctl.dev/v1alpha1\nkind: Platform\n"
        f"metadata: {{name: {name}}}\nspec:\n  release: v0.1.0\n"
        '  kubernetes: {min: "1.29", testedMax: "1.36"}\n'
        f"  sources:\n    manifests: {{dirName: {dir_name}}}\n"
        f"  defaultComponents: [{', '.join(default)}]\n  components:\n{listed}\n",
    )


def app_config(path: Path, platform: str, mirrors: dict[str, str] | None = None) -> Path:
    spec: dict[str, object] = {"profile": "generic", "platform": platform}
    if mirrors:
        spec["mirrors"] = mirrors
    document = {"apiVersion": "kfctl.dev/v1alpha1", "kind": "AppConfig", "metadata": {"name": "t"}, "spec": spec}
    return write(path, yaml.safe_dump(document))


@pytest.fixture
def widgets(tmp_path: Path) -> Path:
    """A source tree of our own whose enabled components fetch two refs of one repository (with and without
    `//`, through resources, bases and a Component) and two versions of one release file; the disabled
    component fetches one more. Returns the app config (no mirrors)."""
    tree = tmp_path / "manifests" / "widgets-manifests"
    write(
        tree / "apps" / "widgets" / KUSTOMIZATION,
        f"resources:\n- base\n- {WIDGETS_V1}\ncomponents:\n- ../../shared/gadgets\n",
    )
    write(tree / "apps" / "widgets" / "base" / KUSTOMIZATION, f"resources:\n- cm.yaml\n- {WIDGETS_V2}\n")
    write(tree / "apps" / "widgets" / "base" / "cm.yaml", configmap("local"))
    write(
        tree / "shared" / "gadgets" / KUSTOMIZATION,
        f"apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- {GADGETS_OLD}\n",
    )
    write(tree / "apps" / "old" / KUSTOMIZATION, f"bases:\n- {GADGETS_NEW}\n")
    write(tree / "apps" / "disabled" / KUSTOMIZATION, f"resources:\n- {UNUSED}\n")
    catalog(
        tmp_path,
        "widgets",
        "widgets-manifests",
        {"widgets": "apps/widgets", "old": "apps/old", "disabled": "apps/disabled"},
        ["widgets", "old"],
    )
    return app_config(tmp_path / "app" / "kfctl.yaml", "widgets")


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """The mirror of `widgets`, laid out like ../shared/upstream/mirror (the github.com/ folder)."""
    root = tmp_path / "mirror" / "github.com"
    folder(root / "acme" / "widgets@v1.0.0" / "config" / "default", "widget-v1")
    folder(root / "acme" / "widgets@v2.0.0" / "config" / "extra", "widget-v2")
    write(root / "acme" / "gadgets" / "releases" / "download" / "v0.6.0" / "manifests.yaml", configmap("gadget-v060"))
    write(root / "acme" / "gadgets" / "releases" / "download" / "v0.10.1" / "manifests.yaml", configmap("gadget-v0101"))
    return root


def remote_report(env: dict[str, str], config: Path, *args: str) -> dict[str, object]:
    result = kfctl(env, "sources", "remote", "-f", str(config), "-o", "json", *args)
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- mapping ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # git targets: LOCATION/ORG/REPO@REF/PATH, in every spelling kustomize accepts
        ("https://github.com/argoproj/argo-workflows/manifests/base?ref=v3.7.3",
         "argoproj/argo-workflows@v3.7.3/manifests/base"),
        ("https://github.com/kubernetes-sigs/lws//config/default?ref=v0.7.0",
         "kubernetes-sigs/lws@v0.7.0/config/default"),
        ("https://github.com/acme/widgets.git//config?ref=v1&timeout=90s", "acme/widgets@v1/config"),
        ("git::https://github.com/acme/widgets//config?ref=v1", "acme/widgets@v1/config"),
        ("github.com/acme/widgets/config?ref=v1", "acme/widgets@v1/config"),
        ("git@github.com:acme/widgets.git//config?ref=v1", "acme/widgets@v1/config"),
        ("ssh://git@github.com/acme/widgets//config?version=v1", "acme/widgets@v1/config"),
        # plain files: LOCATION/PATH
        ("https://github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml",
         "kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml"),
    ],
)  # fmt: skip
def test_both_layouts_map_under_one_host_entry(tmp_path: Path, entry: str, expected: str) -> None:
    for location in (f"{tmp_path}/github.com/", f"{tmp_path}/github.com"):  # with or without the slash
        coverage = locate(parse_remote(entry), {GITHUB: location})
        assert coverage.prefix == GITHUB
        assert coverage.location == str(tmp_path / "github.com" / expected)
        assert not coverage.covered and coverage.missing  # nothing is there: uncovered, and says where it looked


def test_refs_of_one_repository_never_collide(tmp_path: Path) -> None:
    mirrors = {GITHUB: str(tmp_path)}
    located = {
        entry: locate(parse_remote(entry), mirrors).location
        for entry in (WIDGETS_V1, WIDGETS_V2, GADGETS_OLD, GADGETS_NEW)
    }
    assert len(set(located.values())) == 4
    assert located[WIDGETS_V1] == str(tmp_path / "acme" / "widgets@v1.0.0" / "config" / "default")


def test_prefix_forms_and_url_mirrors() -> None:
    target = parse_remote(WIDGETS_V1)
    # The longest prefix wins, at a path boundary only: `acme/widgets-extras` is not `acme/widgets`.
    mirrors = {GITHUB: "/m/gh/", "https://github.com/acme/": "/m/acme/", "https://github.com/acme/wid": "/wrong/"}
    assert locate(target, mirrors).location == "/m/acme/widgets@v1.0.0/config/default"
    # A prefix naming the repository itself maps every ref to that one folder.
    assert locate(target, {"github.com/acme/widgets": "/m/w"}).location == "/m/w/config/default"
    # Another server: the rest of the entry, ref included, is appended as written.
    assert locate(target, {GITHUB: "https://mirror.internal/gh/"}).location == (
        "https://mirror.internal/gh/acme/widgets//config/default?ref=v1.0.0"
    )
    shorthand = parse_remote("github.com/acme/widgets/config?ref=v1")
    assert locate(shorthand, {GITHUB: "https://mirror.internal/gh"}).location == (
        "https://mirror.internal/gh/acme/widgets//config?ref=v1"
    )
    assert locate(target, {"https://gitlab.com/": "/m/gl/"}).prefix is None


@pytest.mark.parametrize("release", RELEASES)
def test_one_github_entry_covers_every_remote_entry_of_the_release(upstream: Path, release: str) -> None:
    mirrors = {GITHUB: str(upstream / "mirror" / "github.com") + "/"}
    found = find_remote_resources(upstream / release)
    located = {entry: locate(parse_remote(entry), mirrors) for _, entry in found}
    assert len(located) == 7  # argo-workflows x4, JobSet v0.10.1 and v0.6.0, lws (the README's table)
    uncovered = [entry for entry, coverage in located.items() if not coverage.covered]
    assert uncovered == []
    jobsets = {c.location for e, c in located.items() if "/jobset/" in e}
    assert len(jobsets) == 2, "JobSet v0.6.0 and v0.10.1 are two files"


def test_rewrite_of_the_real_lws_git_target_renders_from_the_mirror(tmp_path: Path, upstream: Path) -> None:
    tree = upstream / "kubeflow-manifests-v1.11.0"
    lws = Path("applications/trainer/upstream/third-party/leaderworkerset")
    mirrors = {GITHUB: str(upstream / "mirror" / "github.com")}
    entries = [(k, e) for k, e in find_remote_resources(tree) if k.parent == tree / lws]
    out = tmp_path / "out"
    planned = {lws / KUSTOMIZATION: {e: locate(parse_remote(e), mirrors) for _, e in entries}}
    assert rewrite_remote_resources(tree, mirrors, out, planned=planned) == out
    assert find_remote_resources(out / lws) == []
    assert "lws-controller-manager" in kustomize_names(out / lws)


# --- kfctl sources remote ---------------------------------------------------------------------------------------


def test_sources_remote_lists_what_the_enabled_components_fetch(
    env: dict[str, str], widgets: Path, mirror: Path
) -> None:
    bare = remote_report(env, widgets)
    assert bare["kind"] == "RemoteSources" and bare["schemaVersion"]
    assert bare["summary"] == {"entries": 4, "covered": 0, "uncovered": 4}
    items = bare["items"]
    assert isinstance(items, list)
    assert [(i["url"], i["ref"], i["kustomization"], i["components"]) for i in items] == [
        (GADGETS_NEW, None, "apps/old/kustomization.yaml", ["old"]),
        (WIDGETS_V2, "v2.0.0", "apps/widgets/base/kustomization.yaml", ["widgets"]),
        (WIDGETS_V1, "v1.0.0", "apps/widgets/kustomization.yaml", ["widgets"]),
        (GADGETS_OLD, None, "shared/gadgets/kustomization.yaml", ["widgets"]),
    ], "in apply order, as kustomize reaches them; the disabled component's entry is not listed"
    assert {(i["covered"], i["location"], i["reason"]) for i in items} == {(False, None, "no mirror entry covers it")}

    mirrored = remote_report(env, widgets, "--mirror", f"{GITHUB}={mirror}/")
    assert mirrored["summary"] == {"entries": 4, "covered": 4, "uncovered": 0}
    assert [i["location"] for i in mirrored["items"]] == [  # type: ignore[attr-defined]
        str(mirror / "acme" / "gadgets" / "releases" / "download" / "v0.10.1" / "manifests.yaml"),
        str(mirror / "acme" / "widgets@v2.0.0" / "config" / "extra"),
        str(mirror / "acme" / "widgets@v1.0.0" / "config" / "default"),
        str(mirror / "acme" / "gadgets" / "releases" / "download" / "v0.6.0" / "manifests.yaml"),
    ]
    table = kfctl(env, "sources", "remote", "-f", str(widgets))
    assert table.returncode == 0 and "4 remote entries, 0 covered by a mirror, 4 uncovered" in table.stderr


def test_mirror_flag_wins_over_the_config_and_relative_paths_resolve(
    env: dict[str, str], tmp_path: Path, widgets: Path, mirror: Path
) -> None:
    # The config's relative path is relative to the config's folder; the flag's to the working directory.
    config = app_config(widgets, "widgets", {GITHUB: "../mirror/github.com/", "https://example.org/": "/x/"})
    from_config = remote_report(env, config)
    assert from_config["summary"] == {"entries": 4, "covered": 4, "uncovered": 0}
    empty = tmp_path / "empty"
    empty.mkdir()
    result = kfctl(env, "sources", "remote", "-f", str(config), "-o", "json", "--mirror", f"{GITHUB}=.", cwd=empty)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mirrors"] == {GITHUB: str(empty), "https://example.org/": "/x/"}
    assert report["summary"]["uncovered"] == 4
    assert report["items"][1]["reason"] == f"not in the mirror: looked for {empty}/acme/widgets@v2.0.0/config/extra"


def test_sources_remote_never_prints_credentials(env: dict[str, str], tmp_path: Path, widgets: Path) -> None:
    secret = "https://bot:hunter2secret@git.example.org/team/repo//base?ref=v1&access_token=tok3nvalue"
    write(tmp_path / "manifests" / "widgets-manifests" / "apps" / "old" / KUSTOMIZATION, f"resources:\n- {secret}\n")
    mirrors = "https://git.example.org/=https://user:mirr0rpass@mirror.internal/?sig=s1gnature"
    for output in ("json", "table"):
        result = kfctl(env, "sources", "remote", "-f", str(widgets), "-o", output, "--mirror", mirrors)
        assert result.returncode == 0, result.stderr
        for leaked in ("hunter2secret", "tok3nvalue", "mirr0rpass", "s1gnature"):
            assert leaked not in result.stdout + result.stderr
    refused = one_line_error(kfctl(env, "build", "-f", str(widgets), KFCTL_OFFLINE="1"))
    assert "https://git.example.org/team/repo//base?ref=v1&access_token=REDACTED (needed by apps/old" in refused
    assert "hunter2secret" not in refused and "tok3nvalue" not in refused


# --- build: rendering from the mirror, and the refusal --------------------------------------------------------


def test_build_renders_every_ref_from_the_mirror(env: dict[str, str], widgets: Path, mirror: Path) -> None:
    result = kfctl(env, "build", "-f", str(widgets), "--mirror", f"{GITHUB}={mirror}", KFCTL_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d}
    assert names == {"local", "widget-v1", "widget-v2", "gadget-v060", "gadget-v0101"}


def test_offline_build_refuses_naming_every_uncovered_entry(env: dict[str, str], widgets: Path, mirror: Path) -> None:
    line = one_line_error(kfctl(env, "build", "-f", str(widgets), KFCTL_OFFLINE="1"))
    assert "no network is reachable (KFCTL_OFFLINE=1)" in line
    assert "4 remote resources the enabled components need are not mirrored" in line
    for url, kustomization in (
        (WIDGETS_V1, "apps/widgets/kustomization.yaml"),
        (WIDGETS_V2, "apps/widgets/base/kustomization.yaml"),
        (GADGETS_OLD, "shared/gadgets/kustomization.yaml"),
        (GADGETS_NEW, "apps/old/kustomization.yaml"),
    ):
        assert f"{url} (needed by {kustomization}; no mirror entry covers it)" in line
    assert UNUSED not in line
    # Every render refuses the same way; with a mirror that lacks one copy, only that one is named.
    partial = f"{GITHUB}={mirror}"
    (mirror / "acme" / "gadgets" / "releases" / "download" / "v0.10.1" / "manifests.yaml").unlink()
    line = one_line_error(kfctl(env, "generate", "-f", str(widgets), "--mirror", partial, KFCTL_OFFLINE="1"))
    assert line.startswith("error: cannot render: 1 remote resource the enabled components need is not mirrored: ")
    assert (
        f"{GADGETS_NEW} (needed by apps/old/kustomization.yaml; not in the mirror: looked for {mirror}/acme/gadgets"
        in line
    )
    assert WIDGETS_V1 not in line


def test_a_missing_mirror_copy_is_refused_with_the_network_reachable(
    env: dict[str, str], widgets: Path, mirror: Path
) -> None:
    missing = mirror / "acme" / "widgets@v1.0.0"
    missing.rename(mirror / "acme" / "widgets@v1.0.1")
    line = one_line_error(kfctl(env, "build", "-f", str(widgets), "--mirror", f"{GITHUB}={mirror}", KFCTL_OFFLINE="0"))
    looked_for = f"not in the mirror: looked for {missing}/config/default"
    assert f"{WIDGETS_V1} (needed by apps/widgets/kustomization.yaml; {looked_for})" in line
    assert "no network" not in line


@pytest.fixture
def served_configmap() -> Iterator[str]:
    """A loopback HTTP server holding one manifest: a remote file whose host answers."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = configmap("served").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/served.yaml"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_probe_decides_when_the_switch_is_unset(
    env: dict[str, str], tmp_path: Path, widgets: Path, served_configmap: str
) -> None:
    old = tmp_path / "manifests" / "widgets-manifests" / "apps" / "old" / KUSTOMIZATION
    config = app_config(widgets, "widgets")
    catalog(tmp_path, "widgets", "widgets-manifests", {"old": "apps/old"}, ["old"])
    # The host answers a TCP connect: kustomize fetches the entry itself, as without kfctl.
    write(old, f"resources:\n- {served_configmap}\n")
    built = kfctl(env, "build", "-f", str(config))
    assert built.returncode == 0, built.stderr
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(built.stdout) if d] == ["served"]
    # It does not: refused before kustomize runs, saying which host did not answer and why.
    port = closed_port()
    write(old, f"resources:\n- http://127.0.0.1:{port}/x.yaml\n")
    line = one_line_error(kfctl(env, "build", "-f", str(config)))
    assert f"no network is reachable (127.0.0.1:{port}: Connection refused)" in line
    assert f"http://127.0.0.1:{port}/x.yaml (needed by apps/old/kustomization.yaml; no mirror entry covers it)" in line


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (("--mirror", "https://github.com/"), {}, "--mirror 'https://github.com/': expected PREFIX=LOCATION"),
        (("--mirror", "=/srv"), {}, "expected PREFIX=LOCATION"),
        ((), {"KFCTL_OFFLINE": "maybe"}, "KFCTL_OFFLINE='maybe' is not a switch"),
    ],
)
def test_bad_switches_are_one_line_exit_2(
    env: dict[str, str], widgets: Path, args: tuple[str, ...], extra: dict[str, str], message: str
) -> None:
    assert message in one_line_error(kfctl({**env, **extra}, "build", "-f", str(widgets), *args))


# --- the real releases ------------------------------------------------------------------------------------------


@pytest.fixture
def example_apps(env: dict[str, str], tmp_path: Path, upstream: Path) -> dict[str, Path]:
    """Per release, an app whose one component is the release's example/ (what `kustomize build example`
    fetches), the real manifests and the one mirror entry https://github.com/ -> ../shared/upstream/mirror."""
    env["KFCTL_MANIFESTS_DIR"] = str(upstream)
    apps = {}
    for release in RELEASES:
        name = "example-" + release.rsplit("-", 1)[1].replace(".", "")
        catalog(tmp_path, name, release, {"example": "example"}, ["example"])
        relative = os.path.relpath(upstream / "mirror" / "github.com", tmp_path / name)  # to the config's folder
        apps[release] = app_config(tmp_path / name / "kfctl.yaml", name, {GITHUB: relative})
    return apps


@pytest.mark.parametrize(("release", "objects"), [(RELEASES[0], 653), (RELEASES[1], 675)])
def test_real_example_is_covered_and_renders_with_the_mirror(
    env: dict[str, str], example_apps: dict[str, Path], release: str, objects: int
) -> None:
    report = remote_report(env, example_apps[release])
    # example/ builds the Argo Workflows and JobSet v0.10.1 entries; lws and JobSet v0.6.0 are opt-in overlays.
    assert report["summary"] == {"entries": 4, "covered": 4, "uncovered": 0}
    built = kfctl(env, "build", "-f", str(example_apps[release]), KFCTL_OFFLINE="1")
    assert built.returncode == 0, built.stderr
    assert f"rendered {objects} objects" in built.stderr  # the counts ../shared/upstream/README.md gives


def test_real_example_with_a_mirror_lacking_a_repository(
    env: dict[str, str], tmp_path: Path, upstream: Path, example_apps: dict[str, Path]
) -> None:
    partial = tmp_path / "partial" / "github.com"
    partial.mkdir(parents=True)
    (partial / "kubernetes-sigs").symlink_to(upstream / "mirror" / "github.com" / "kubernetes-sigs")  # no argoproj
    for release in RELEASES:
        config = example_apps[release]
        report = remote_report(env, config, "--mirror", f"{GITHUB}={partial}")
        uncovered = {i["url"] for i in report["items"] if not i["covered"]}  # type: ignore[attr-defined]
        assert report["summary"] == {"entries": 4, "covered": 1, "uncovered": 3}
        assert all("/argoproj/argo-workflows/" in url for url in uncovered)
        line = one_line_error(kfctl(env, "build", "-f", str(config), "--mirror", f"{GITHUB}={partial}"))
        assert "3 remote resources the enabled components need are not mirrored" in line
        base = "applications/pipeline/upstream/third-party/argo/base/kustomization.yaml"
        url = "https://github.com/argoproj/argo-workflows/manifests/base/workflow-controller?ref=v3.7.3"
        looked_for = f"{partial}/argoproj/argo-workflows@v3.7.3/manifests/base/workflow-controller"
        assert f"{url} (needed by {base}; not in the mirror: looked for {looked_for})" in line


@pytest.mark.parametrize("platform", ["kubeflow-1.11", "kubeflow-26.03"])
def test_real_default_config_with_one_github_mirror_entry(
    env: dict[str, str], tmp_path: Path, upstream: Path, platform: str
) -> None:
    """The bundled catalogs' default config of each release: every remote entry covered by the one entry
    https://github.com/ -> ../shared/upstream/mirror/github.com/; a copy lacking Argo Workflows is refused."""
    del env["KFCTL_CATALOG_DIR"]
    env["KFCTL_MANIFESTS_DIR"] = str(upstream)
    init = kfctl(env, "init", str(tmp_path / "app"), "--profile", "kind", "--platform", platform)
    assert init.returncode == 0, init.stderr
    config = tmp_path / "app" / "kfctl.yaml"
    full = remote_report(env, config, "--mirror", f"{GITHUB}={upstream}/mirror/github.com/")
    summary = full["summary"]
    assert isinstance(summary, dict) and summary["uncovered"] == 0 and summary["entries"] >= 4, full
    partial = tmp_path / "partial" / "github.com"
    partial.mkdir(parents=True)
    (partial / "kubernetes-sigs").symlink_to(upstream / "mirror" / "github.com" / "kubernetes-sigs")
    lacking = remote_report(env, config, "--mirror", f"{GITHUB}={partial}")
    uncovered = [i for i in lacking["items"] if not i["covered"]]  # type: ignore[attr-defined]
    assert uncovered and all("/argoproj/argo-workflows/" in i["url"] for i in uncovered)
    line = one_line_error(kfctl(env, "build", "-f", str(config), "--mirror", f"{GITHUB}={partial}"))
    for item in uncovered:
        assert f"{item['url']} (needed by {item['kustomization']}; not in the mirror: looked for" in line
