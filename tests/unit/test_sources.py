"""Manifest sources: local dirs, digest-checked downloads from a loopback server, mirrors, remote resources."""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from kfctl.errors import SourceError
from kfctl.platform.remote import find_remote_resources, rewrite_remote_resources
from kfctl.platform.sources import SourceContext, SourceSpec, resolve_source
from kfctl.render.kustomize import find_kustomize

JOBSET_URL = "https://github.com/kubernetes-sigs/jobset/releases/download/v0.6.0/manifests.yaml"
KUSTOMIZATION_FILE = "kustomization.yaml"


# --- a loopback HTTP server -------------------------------------------------------------------------------------


@dataclass
class Server:
    base: str  # http://127.0.0.1:<port>
    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; the tests' requests must go straight to 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            served.authorizations.append(self.headers.get("Authorization"))
            if self.path in served.redirects:
                self.send_response(302)
                self.send_header("Location", served.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- archives ---------------------------------------------------------------------------------------------------

TREE = {
    "README.md": "manifests\n",
    "common/kustomization.yaml": "resources:\n- ns.yaml\n",
    "common/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n",
}


def tar_gz(files: dict[str, str], top: str | None = "manifests-1.10.2") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(files: dict[str, str], top: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{top}/{name}" if top else name, text)
    return buffer.getvalue()


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        ok = tarfile.TarInfo("manifests/ok.yaml")
        ok.size = 5
        tar.addfile(ok, io.BytesIO(b"a: 1\n"))
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spec_for(url: str | None = None, **fields: object) -> SourceSpec:
    return SourceSpec(name="kubeflow-manifests", dir_name="kubeflow-manifests-v1.10.2", url=url, **fields)  # type: ignore[arg-type]


def leftovers(cache: Path) -> list[str]:
    """Temporary downloads or half-unpacked folders left in the cache."""
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) if cache.exists() else []


def digest_dirs(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) if cache.exists() else []


# --- local sources and --manifests-dir --------------------------------------------------------------------------


def test_local_path_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    spec = SourceSpec(name="kfp-tekton", dir_name="kfp-tekton-v2.0.5", path=tmp_path / "tree")
    assert resolve_source(spec, SourceContext(cache_dir=tmp_path / "cache")) == tmp_path / "tree"
    assert not (tmp_path / "cache").exists()


def test_missing_local_path_names_it(tmp_path: Path) -> None:
    spec = SourceSpec(name="kfp-tekton", dir_name="kfp-tekton-v2.0.5", path=tmp_path / "nope")
    with pytest.raises(SourceError, match=r"'kfp-tekton': path .*nope is not a directory; fix `path:`"):
        resolve_source(spec, SourceContext(cache_dir=tmp_path / "cache"))


def test_manifests_dir_holding_the_source_by_dir_name(tmp_path: Path, server: Server) -> None:
    nested = tmp_path / "all" / "kubeflow-manifests-v1.10.2"
    nested.mkdir(parents=True)
    context = SourceContext(cache_dir=tmp_path / "cache", manifests_dir=tmp_path / "all")
    # --manifests-dir outranks the spec's own path and url: nothing is downloaded.
    spec = spec_for(server.url("/m.tar.gz"), path=tmp_path)
    assert resolve_source(spec, context) == nested
    assert resolve_source(spec, context, only_source=True) == nested
    assert server.requests == []


def test_manifests_dir_is_the_source_itself_when_it_is_the_only_source(tmp_path: Path) -> None:
    context = SourceContext(cache_dir=tmp_path / "cache", manifests_dir=tmp_path)
    assert resolve_source(spec_for(), context, only_source=True) == tmp_path


def test_manifests_dir_without_the_source_says_what_was_expected(tmp_path: Path) -> None:
    context = SourceContext(cache_dir=tmp_path / "cache", manifests_dir=tmp_path)
    expected = tmp_path / "kubeflow-manifests-v1.10.2"
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(), context)
    assert str(caught.value) == (
        f"--manifests-dir {tmp_path}: {expected} does not exist; "
        "point it at a folder holding kubeflow-manifests-v1.10.2"
    )

    context.manifests_dir = tmp_path / "missing"
    with pytest.raises(SourceError, match=r"missing is not a directory; .*, or at that folder itself$"):
        resolve_source(spec_for(), context, only_source=True)


def test_source_without_path_or_url_says_how_to_set_one(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(), SourceContext(cache_dir=tmp_path))
    message = str(caught.value)
    assert "'kubeflow-manifests' has no path or url" in message
    assert "`source:`" in message and "--manifests-dir" in message and "KFCTL_MANIFESTS_DIR" in message


# --- downloads --------------------------------------------------------------------------------------------------


def test_pinned_download_is_unpacked_into_the_cache_without_its_top_folder(tmp_path: Path, server: Server) -> None:
    archive = tar_gz(TREE)
    server.files["/v1.10.2.tar.gz"] = archive
    cache = tmp_path / "cache"

    root = resolve_source(spec_for(server.url("/v1.10.2.tar.gz"), sha256=archive_digest(archive)), SourceContext(cache))

    assert root == cache / sha256(archive) / "manifests-1.10.2"
    assert (root / "common" / "ns.yaml").read_text() == TREE["common/ns.yaml"]
    assert server.requests == ["/v1.10.2.tar.gz"]
    assert leftovers(cache) == []


def archive_digest(archive: bytes) -> str:
    """Pinned digests are accepted in any case and with a `sha256:` prefix."""
    return "sha256:" + sha256(archive).upper()


def test_zip_without_a_single_top_folder_is_used_from_its_root(tmp_path: Path, server: Server) -> None:
    archive = zip_bytes(TREE)
    server.files["/m.zip"] = archive
    root = resolve_source(spec_for(server.url("/m.zip")), SourceContext(tmp_path / "cache"))
    assert root == tmp_path / "cache" / sha256(archive)
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "common"]


def test_strip_prefix_names_the_folder_to_use(tmp_path: Path, server: Server) -> None:
    server.files["/m.tgz"] = tar_gz(TREE, top="repo-1.0")
    context = SourceContext(tmp_path / "cache")
    root = resolve_source(spec_for(server.url("/m.tgz"), strip_prefix="repo-1.0/common"), context)
    assert (root / "ns.yaml").is_file()
    with pytest.raises(SourceError, match=r"has no folder 'manifests-9' \(its top level holds repo-1.0\)"):
        resolve_source(spec_for(server.url("/m.tgz"), strip_prefix="manifests-9"), context)


def test_redirects_are_followed(tmp_path: Path, server: Server) -> None:
    server.files["/real.tar.gz"] = tar_gz(TREE)
    server.redirects["/latest.tar.gz"] = "/real.tar.gz"
    root = resolve_source(spec_for(server.url("/latest.tar.gz")), SourceContext(tmp_path / "cache"))
    assert (root / "README.md").is_file()
    assert server.requests == ["/latest.tar.gz", "/real.tar.gz"]


def test_pinned_digest_mismatch_is_reported_as_tampering(tmp_path: Path, server: Server) -> None:
    tampered = tar_gz({**TREE, "common/ns.yaml": "kind: Evil\n"})
    server.files["/v1.10.2.tar.gz"] = tampered
    pinned = sha256(tar_gz(TREE))
    cache = tmp_path / "cache"

    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(server.url("/v1.10.2.tar.gz"), sha256=pinned), SourceContext(cache))

    message = str(caught.value)
    assert server.url("/v1.10.2.tar.gz") in message
    assert f"expected {pinned} (pinned in the config), got {sha256(tampered)}" in message
    assert "tampered or changed archive" in message
    assert "update `sha256:`" in message
    assert digest_dirs(cache) == [] and leftovers(cache) == []


def test_lock_file_records_the_first_download_then_catches_a_changed_archive(tmp_path: Path, server: Server) -> None:
    original = tar_gz(TREE)
    server.files["/v1.10.2.tar.gz"] = original
    url = server.url("/v1.10.2.tar.gz")
    lock = tmp_path / "kfctl.lock"
    other = "https://example.invalid/other.tar.gz"
    lock.write_text(f"# pinned by kfctl\nsources:\n  {other}: {'a' * 64}\n")

    resolve_source(spec_for(url), SourceContext(tmp_path / "cache-1", lock_file=lock))

    text = lock.read_text()
    assert text.startswith("# pinned by kfctl\n")
    assert yaml.safe_load(text) == {"sources": {other: "a" * 64, url: sha256(original)}}

    changed = tar_gz({**TREE, "README.md": "changed\n"})
    server.files["/v1.10.2.tar.gz"] = changed
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(url), SourceContext(tmp_path / "cache-2", lock_file=lock))
    message = str(caught.value)
    assert f"expected {sha256(original)} (lock file {lock}), got {sha256(changed)}" in message
    assert "tampered or changed archive" in message and f"delete its entry from {lock}" in message
    assert yaml.safe_load(lock.read_text())["sources"][url] == sha256(original)


def test_new_lock_file_is_created(tmp_path: Path, server: Server) -> None:
    archive = tar_gz(TREE)
    server.files["/m.tar.gz"] = archive
    lock = tmp_path / "state" / "kfctl.lock"
    resolve_source(spec_for(server.url("/m.tar.gz")), SourceContext(tmp_path / "cache", lock_file=lock))
    assert yaml.safe_load(lock.read_text()) == {"sources": {server.url("/m.tar.gz"): sha256(archive)}}


@pytest.mark.parametrize("known_by", ["pin", "lock"])
def test_cache_hit_makes_zero_requests(tmp_path: Path, server: Server, known_by: str) -> None:
    archive = tar_gz(TREE)
    server.files["/m.tar.gz"] = archive
    url = server.url("/m.tar.gz")
    spec = spec_for(url, sha256=sha256(archive)) if known_by == "pin" else spec_for(url)
    context = SourceContext(tmp_path / "cache", lock_file=tmp_path / "kfctl.lock")

    first = resolve_source(spec, context)
    assert server.requests == ["/m.tar.gz"]
    server.files.clear()  # a second download would now fail with 404

    assert resolve_source(spec, context) == first
    assert server.requests == ["/m.tar.gz"]


def test_unreachable_url_is_a_source_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/m.tar.gz"
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(url), SourceContext(tmp_path / "cache"))
    assert str(caught.value).startswith(f"{url}: download failed (ConnectError")
    assert "check the network and the URL" in str(caught.value)
    assert leftovers(tmp_path / "cache") == []


def test_http_404_is_a_source_error(tmp_path: Path, server: Server) -> None:
    url = server.url("/missing.tar.gz")
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(url), SourceContext(tmp_path / "cache"))
    assert str(caught.value).startswith(f"{url}: download failed with HTTP 404 Not Found; check the URL")
    assert leftovers(tmp_path / "cache") == [] and digest_dirs(tmp_path / "cache") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not an archive</html>", "neither a tar nor a zip archive"),
        (tar_gz(TREE)[: len(tar_gz(TREE)) // 2], "Compressed file ended before the end-of-stream marker"),
        (zip_bytes({}), "no members"),
    ],
    ids=["html", "truncated-tar-gz", "empty-zip"],
)
def test_unreadable_archive_is_a_source_error(tmp_path: Path, server: Server, body: bytes, reason: str) -> None:
    server.files["/m.tar.gz"] = body
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(server.url("/m.tar.gz")), SourceContext(tmp_path / "cache"))
    assert str(caught.value).startswith(
        f"{server.url('/m.tar.gz')}: not a readable .tar.gz, .tgz, .tar or .zip archive ({reason}"
    )
    assert digest_dirs(tmp_path / "cache") == [] and leftovers(tmp_path / "cache") == []


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("archive", "complaint"),
    [
        (tar_with(tarfile.TarInfo("manifests/../../evil.yaml"), b"x"), "climbs out of it with '..'"),
        (tar_with(tarfile.TarInfo("/tmp/kfctl-test-evil.yaml"), b"x"), "has an absolute path"),
        (tar_with(symlink("manifests/link", "../../evil")), "symlink 'manifests/link' -> '../../evil' points outside"),
        (tar_with(symlink("manifests/link", "/etc/passwd")), "points outside"),
        (zip_bytes({"../evil.yaml": "x"}), "climbs out of it with '..'"),
    ],
    ids=["tar-dotdot", "tar-absolute", "tar-symlink-up", "tar-symlink-absolute", "zip-dotdot"],
)
def test_unsafe_archive_members_are_rejected(tmp_path: Path, server: Server, archive: bytes, complaint: str) -> None:
    server.files["/evil.tgz"] = archive
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(SourceError) as caught:
        resolve_source(spec_for(server.url("/evil.tgz")), SourceContext(cache))
    assert "unsafe archive" in str(caught.value) and complaint in str(caught.value)
    assert digest_dirs(cache) == [] and leftovers(cache) == []
    assert not (tmp_path / "deep" / "evil.yaml").exists() and not (tmp_path / "evil.yaml").exists()
    assert not Path("/tmp/kfctl-test-evil.yaml").exists()


def test_credentials_in_the_url_are_used_but_never_shown(tmp_path: Path, server: Server) -> None:
    host = server.base.removeprefix("http://")
    archive = tar_gz(TREE)
    server.files["/private.tar.gz"] = archive
    lock = tmp_path / "kfctl.lock"

    resolve_source(
        spec_for(f"http://alice:s3cret-pw@{host}/private.tar.gz"), SourceContext(tmp_path / "c", lock_file=lock)
    )
    assert server.authorizations[-1] is not None and server.authorizations[-1].startswith("Basic ")
    assert "s3cret" not in lock.read_text() and "alice" not in lock.read_text()
    assert yaml.safe_load(lock.read_text()) == {"sources": {f"http://{host}/private.tar.gz": sha256(archive)}}

    for url in (
        f"http://alice:s3cret-pw@{host}/missing.tar.gz",
        f"http://alice:s3cret-pw@127.0.0.1:{closed_port()}/m.tar.gz",
        f"http://{host}/missing.tar.gz?X-Amz-Signature=s3cret-sig&part=1",
    ):
        with pytest.raises(SourceError) as caught:
            resolve_source(spec_for(url), SourceContext(tmp_path / "cache"))
        message = caught.value.one_line()
        assert "s3cret" not in message and "alice" not in message, message
        assert "/m" in message  # the URL is still named, minus its secrets


# --- mirrors ----------------------------------------------------------------------------------------------------


def test_mirror_to_a_local_archive_makes_no_request(tmp_path: Path, server: Server) -> None:
    archive = tar_gz(TREE)
    mirror = tmp_path / "mirror"
    (mirror / "v1.10.2").mkdir(parents=True)
    (mirror / "v1.10.2" / "manifests.tar.gz").write_bytes(archive)
    url = server.url("/kubeflow/manifests/v1.10.2/manifests.tar.gz")

    for value in (f"{mirror}/", f"file://{mirror}/"):
        context = SourceContext(tmp_path / f"cache-{len(value)}", mirrors={server.url("/kubeflow/manifests/"): value})
        root = resolve_source(spec_for(url, sha256=sha256(archive)), context)
        assert root == context.cache_dir / sha256(archive) / "manifests-1.10.2"
        assert (root / "README.md").is_file()

    # A mirror is digest-checked like a download.
    context = SourceContext(tmp_path / "cache-3", mirrors={server.url("/kubeflow/manifests/"): f"{mirror}/"})
    with pytest.raises(SourceError, match=r"\(fetched from mirror .*manifests\.tar\.gz\): sha256 mismatch"):
        resolve_source(spec_for(url, sha256="0" * 64), context)
    assert server.requests == []


def test_mirror_to_a_local_directory_is_used_as_is(tmp_path: Path, server: Server) -> None:
    unpacked = tmp_path / "mirror" / "manifests-1.10.2"
    unpacked.mkdir(parents=True)
    context = SourceContext(tmp_path / "cache", mirrors={server.url("/"): f"{tmp_path}/mirror/"})
    root = resolve_source(spec_for(server.url("/manifests-1.10.2"), sha256="0" * 64), context)
    assert root == unpacked
    assert server.requests == [] and not context.cache_dir.exists()


def test_missing_local_mirror_is_a_source_error(tmp_path: Path, server: Server) -> None:
    context = SourceContext(tmp_path / "cache", mirrors={server.url("/"): f"{tmp_path}/nothing/"})
    with pytest.raises(SourceError, match=r"its mirror .*nothing/m\.tar\.gz does not exist; fix the mirrors entry"):
        resolve_source(spec_for(server.url("/m.tar.gz")), context)
    assert server.requests == []


def test_mirror_to_another_url_longest_prefix_wins(tmp_path: Path, server: Server) -> None:
    archive = tar_gz(TREE)
    server.files["/mirror/m.tar.gz"] = archive
    mirrors = {server.url("/"): server.url("/wrong/"), server.url("/upstream/"): server.url("/mirror/")}
    context = SourceContext(tmp_path / "cache", lock_file=tmp_path / "kfctl.lock", mirrors=mirrors)

    root = resolve_source(spec_for(server.url("/upstream/m.tar.gz")), context)

    assert (root / "README.md").is_file()
    assert server.requests == ["/mirror/m.tar.gz"]
    # The lock file pins the canonical URL, so the digest holds whichever mirror serves it.
    assert yaml.safe_load(context.lock_file.read_text()) == {  # type: ignore[union-attr]
        "sources": {server.url("/upstream/m.tar.gz"): sha256(archive)}
    }


# --- remote resources in kustomizations -------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  a: b\n"


def kustomize(directory: Path) -> list[dict[str, object]]:
    # The kustomize kfctl itself would use (PATH, else kubectl); none found is a failure, not a skip.
    result = subprocess.run(
        [*find_kustomize().command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def names(objects: list[dict[str, object]]) -> set[str]:
    return {obj["metadata"]["name"] for obj in objects}  # type: ignore[index]


def test_find_remote_resources_in_the_real_upstream_tree(upstream: Path) -> None:
    tree = upstream / "kubeflow-manifests-v1.10.2"
    found = find_remote_resources(tree)
    overlays = tree / "applications" / "training-operator" / "upstream" / "v2" / "overlays"
    # The argo webhooks' local `github.com-sa.yaml` files are not remote.
    assert found == [
        (overlays / "only-manager" / KUSTOMIZATION_FILE, JOBSET_URL),
        (overlays / "standalone" / KUSTOMIZATION_FILE, JOBSET_URL),
    ]


def test_find_remote_resources_recognises_kustomize_remote_targets(tmp_path: Path) -> None:
    write(tmp_path / "a" / "github.com-sa.yaml", configmap("sa"))
    write(tmp_path / "a" / "example.com" / "local" / KUSTOMIZATION_FILE, "resources: []\n")
    write(
        tmp_path / "a" / KUSTOMIZATION_FILE,
        "resources:\n"
        "- github.com-sa.yaml\n"
        "- ../b\n"
        "- example.com/local\n"
        "- https://example.com/x.yaml\n"
        "- github.com/acme/widgets/config?ref=v1\n"
        "components:\n"
        "- git@github.com:acme/widgets.git//c\n",
    )
    write(tmp_path / "b" / "Kustomization", "bases: [ 'gitlab.example.org/team/repo//base?ref=main' ]\n")
    write(tmp_path / "c" / "kustomization.yml", "resources:\n  - http://127.0.0.1:9/y.yaml\n")
    write(tmp_path / "d" / KUSTOMIZATION_FILE, "resources: [unclosed\n")  # does not parse: skipped

    assert find_remote_resources(tmp_path) == [
        (tmp_path / "a" / KUSTOMIZATION_FILE, "https://example.com/x.yaml"),
        (tmp_path / "a" / KUSTOMIZATION_FILE, "github.com/acme/widgets/config?ref=v1"),
        (tmp_path / "a" / KUSTOMIZATION_FILE, "git@github.com:acme/widgets.git//c"),
        (tmp_path / "b" / "Kustomization", "gitlab.example.org/team/repo//base?ref=main"),
        (tmp_path / "c" / "kustomization.yml", "http://127.0.0.1:9/y.yaml"),
    ]


def test_rewrite_points_a_remote_file_at_its_mirror_and_kustomize_renders_it(tmp_path: Path) -> None:
    remote = f"http://127.0.0.1:{closed_port()}/jobset/releases/download/v0.6.0/manifests.yaml"
    tree = tmp_path / "tree"
    original = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n"
        "  - local.yaml\n"
        "  # JobSet comes from its release page.\n"
        f"  - {remote}  # pinned release\n"
    )
    write(tree / "app" / KUSTOMIZATION_FILE, original)
    write(tree / "app" / "local.yaml", configmap("local"))
    write(tmp_path / "mirror" / "v0.6.0" / "manifests.yaml", configmap("jobset-from-mirror"))
    mirrors = {remote.split("/releases/download/")[0] + "/releases/download/": f"{tmp_path}/mirror/"}
    out = tmp_path / "rendered" / "abc123"

    assert rewrite_remote_resources(tree, mirrors, out) == out

    assert (tree / "app" / KUSTOMIZATION_FILE).read_text() == original
    assert not (tree / "app" / "_mirrored").exists()
    assert (out / "app" / KUSTOMIZATION_FILE).read_text() == original.replace(remote, "_mirrored/manifests.yaml")
    assert (out / "app" / "_mirrored" / "manifests.yaml").read_text() == configmap("jobset-from-mirror")
    assert find_remote_resources(out) == []  # so rendering cannot reach for the network
    assert names(kustomize(out / "app")) == {"local", "jobset-from-mirror"}


def test_rewrite_points_a_git_target_at_a_mirrored_folder_outside_the_root(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "overlay" / KUSTOMIZATION_FILE, "resources:\n- github.com/acme/widgets/config/default?ref=v1.2.0\n")
    repo = tmp_path / "mirrors" / "widgets"
    write(repo / "config" / "default" / KUSTOMIZATION_FILE, "resources:\n- cm.yaml\n")
    write(repo / "config" / "default" / "cm.yaml", configmap("widget"))
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is accepted

    assert rewrite_remote_resources(tree, {"github.com/acme/widgets": str(repo)}, out) == out

    rewritten = yaml.safe_load((out / "overlay" / KUSTOMIZATION_FILE).read_text())
    assert rewritten == {"resources": ["_mirrored/default"]}
    # A symlink (kustomize takes no absolute paths): it still resolves once the copy is vendored elsewhere.
    assert (out / "overlay" / "_mirrored" / "default").resolve() == (repo / "config" / "default").resolve()
    assert find_remote_resources(out) == []
    assert names(kustomize(out / "overlay")) == {"widget"}
    vendored = tmp_path / "app" / "a" / "much" / "deeper" / "folder"
    shutil.copytree(out, vendored, symlinks=True)
    assert names(kustomize(vendored / "overlay")) == {"widget"}


def test_rewrite_of_the_real_upstream_training_operator_overlay(tmp_path: Path, upstream: Path) -> None:
    tree = upstream / "kubeflow-manifests-v1.10.2"
    write(
        tmp_path / "mirror" / "v0.6.0" / "manifests.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobset-system\n",
    )
    mirrors = {"https://github.com/kubernetes-sigs/jobset/releases/download/": f"{tmp_path}/mirror/"}
    out = tmp_path / "out"

    assert rewrite_remote_resources(tree, mirrors, out) == out

    overlay = Path("applications/training-operator/upstream/v2/overlays/only-manager")
    before = (tree / overlay / KUSTOMIZATION_FILE).read_text()
    after = (out / overlay / KUSTOMIZATION_FILE).read_text()
    assert after == before.replace(JOBSET_URL, "_mirrored/manifests.yaml")  # comments and layout kept
    assert "# TODO (andreyvelich)" in after
    assert find_remote_resources(out) == []
    objects = kustomize(out / overlay)
    assert {"kind": "Namespace", "name": "jobset-system"} in [
        {"kind": o["kind"], "name": o["metadata"]["name"]}  # type: ignore[index]
        for o in objects
    ]


def test_rewrite_returns_the_tree_when_no_mirror_matches(tmp_path: Path) -> None:
    write(tmp_path / "tree" / KUSTOMIZATION_FILE, f"resources:\n- {JOBSET_URL}\n- local.yaml\n")
    out = tmp_path / "out"
    mirrors = {"https://github.com/other-org/": str(tmp_path)}
    assert rewrite_remote_resources(tmp_path / "tree", mirrors, out) == tmp_path / "tree"
    assert rewrite_remote_resources(tmp_path / "tree", {}, out) == tmp_path / "tree"
    assert not out.exists()


def test_rewrite_to_a_missing_mirror_file_is_a_source_error(tmp_path: Path) -> None:
    write(tmp_path / "tree" / KUSTOMIZATION_FILE, f"resources:\n- {JOBSET_URL}\n")
    mirrors = {"https://github.com/kubernetes-sigs/": f"{tmp_path}/empty/"}
    out = tmp_path / "out"
    with pytest.raises(SourceError, match=r"kustomization\.yaml: the mirror of https://.* is .*, which does not exist"):
        rewrite_remote_resources(tmp_path / "tree", mirrors, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["tree"]


def test_rewrite_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    write(tmp_path / "tree" / KUSTOMIZATION_FILE, f"resources:\n- {JOBSET_URL}\n")
    write(tmp_path / "out" / "stale.yaml", "")
    with pytest.raises(SourceError, match=r"out exists and is not an empty folder"):
        rewrite_remote_resources(
            tmp_path / "tree", {"https://github.com/": "https://mirror.example/"}, tmp_path / "out"
        )


def test_rewrite_to_another_url_keeps_quoting_valid(tmp_path: Path) -> None:
    write(tmp_path / "tree" / KUSTOMIZATION_FILE, f'resources: ["{JOBSET_URL}", local.yaml]\n')
    mirrors = {"https://github.com/": "https://mirror.internal/gh/"}
    out = rewrite_remote_resources(tmp_path / "tree", mirrors, tmp_path / "out")
    assert yaml.safe_load((out / KUSTOMIZATION_FILE).read_text()) == {
        "resources": [JOBSET_URL.replace("https://github.com/", "https://mirror.internal/gh/"), "local.yaml"]
    }


def test_rewrite_of_an_escaped_entry_falls_back_to_a_round_trip_dump(tmp_path: Path) -> None:
    escaped = JOBSET_URL.replace("/", "\\/")  # the same string, spelled with YAML escapes the splice cannot match
    write(tmp_path / "tree" / KUSTOMIZATION_FILE, f'# top\nresources:\n  # the release\n  - "{escaped}"\n  - a.yaml\n')
    out = rewrite_remote_resources(
        tmp_path / "tree", {"https://github.com/": "https://mirror.internal/gh/"}, tmp_path / "o"
    )
    text = (out / KUSTOMIZATION_FILE).read_text()
    assert "# top\n" in text and "# the release\n" in text
    assert yaml.safe_load(text) == {
        "resources": [JOBSET_URL.replace("https://github.com/", "https://mirror.internal/gh/"), "a.yaml"]
    }
