"""Round-trip edits of the app config for the commands that write it (`kfctl tenant`, `kfctl access`,
`kfctl upgrade`): comments, order and quoting of the rest of the file stay, and the edited text is
validated like any config before it replaces the file (atomically), so a command never leaves a
config that `kfctl apply` would refuse."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from kfctl.config.app import AppConfig, load_app_config
from kfctl.errors import ConfigError, InputError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def load_for_edit(path: Path) -> CommentedMap:
    """The config's document, after checking the file is a valid AppConfig as it is."""
    load_app_config(path)  # its own errors are reported as they are, before any edit
    document = _yaml().load(path.read_text())
    if not isinstance(document, CommentedMap) or document.get("kind") != "AppConfig":
        raise InputError(
            f"{path}: only a kfctl AppConfig can be edited",
            hint="convert a KfDef first: kfctl init DIR --from-kfdef FILE",
        )
    return document


def write_edited(path: Path, document: Any) -> AppConfig:
    """Write the edited document next to the file, validate it, then move it over the file."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(buffer.getvalue())
        try:
            config = load_app_config(Path(temporary))
        except ConfigError as error:
            message = error.message.replace(temporary, str(path))
            raise InputError(f"the edit would make the config invalid: {message}", hint=error.hint) from None
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    config.path = path
    return config


def set_platform(
    path: Path, platform: str, components: list[str] | None = None, drop: list[str] | None = None
) -> AppConfig:
    """`spec.platform` to the release an upgrade reached; `spec.components` written out when given
    (a config that relied on the default set keeps a component the new default set left out), and
    the entries of `drop` (components the new release no longer has) taken out of it."""
    document = load_for_edit(path)
    spec = document["spec"]
    spec["platform"] = platform
    if components is not None:
        spec["components"] = components
    listed = spec.get("components")
    if drop and isinstance(listed, list):
        for item in [i for i in listed if (i.get("name") if isinstance(i, dict) else i) in drop]:
            listed.remove(item)
    return write_edited(path, document)
