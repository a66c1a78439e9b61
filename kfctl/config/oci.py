"""OCI image references (the distribution/reference grammar): what `images:` overrides may name.

An invalid reference is accepted by kustomize and by the API server and only shows up as
ImagePullBackOff on the cluster, so the app config refuses it up front.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
NAME = re.compile(rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_MAX = 255
# The algorithms OCI registers, with the length of their lowercase hex encoding.
DIGEST_HEX = {"sha256": 64, "sha512": 128}

NAME_EXAMPLE = "e.g. ghcr.io/kubeflow/kfp-api-server, or registry.local:5000/team/app"
TAG_EXAMPLE = 'e.g. newTag: v1.16.2 or newTag: "2.10"'
DIGEST_EXAMPLE = "e.g. sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def name_problem(name: str) -> str | None:
    """Why `name` is not an image name (a repository, without tag or digest), or None."""
    if "@" in name:
        return "it has a digest; put that in `digest:`"
    if ":" in name.rsplit("/", 1)[-1]:
        return "it has a tag; put that in `newTag:`"
    if len(name) > NAME_MAX:
        return f"longer than {NAME_MAX} characters"
    if NAME.fullmatch(name):
        return None
    host, _, path = name.partition("/")
    repository = path if path and _looks_like_host(host) else name
    if repository != repository.lower():
        return "repository path components are lowercase"
    return "[host[:port]/]path, with path components of a-z 0-9 separated by . _ __ or -"


def tag_problem(tag: str) -> str | None:
    if TAG.fullmatch(tag):
        return None
    return "up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"


def digest_problem(digest: str) -> str | None:
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in DIGEST_HEX:
        return f"algorithm:hex, with algorithm {' or '.join(DIGEST_HEX)}"
    if not re.fullmatch(rf"[0-9a-f]{{{DIGEST_HEX[algorithm]}}}", encoded):
        return f"{algorithm} takes {DIGEST_HEX[algorithm]} lowercase hex digits"
    return None


def split_reference(reference: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference as containers write it; missing parts are ""."""
    rest, _, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a colon after the last slash is the tag; before it, a registry port
        return rest[:colon], rest[colon + 1 :], digest
    return rest, "", digest


def _looks_like_host(component: str) -> bool:
    # docker's rule for telling a registry host from the first path component
    return "." in component or ":" in component or component == "localhost" or component != component.lower()
