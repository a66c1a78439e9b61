"""The data kfctl ships inside its package: platform catalogs, cluster profiles and the project's own
kustomize components. Each folder can be replaced by a site's own through an environment variable.

kustomize reads directories, so the bundled folders must be real files on disk: true for a wheel
installed by pip or pipx (a directory in site-packages), not for a zipped install.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from kfctl.errors import ConfigError

CATALOGS = "catalogs"
PROFILES = "profiles"
KUSTOMIZE = "kustomize"


def data_dir(name: str, override_env: str) -> Path:
    """$override_env when set, else the folder `name` bundled with kfctl."""
    override = os.environ.get(override_env)
    if override:
        return Path(override).expanduser()
    bundled = files(__name__) / name
    if not isinstance(bundled, Path):
        raise ConfigError(
            f"kfctl's bundled {name} are inside an archive ({bundled}), and kustomize needs real files",
            hint=f"install kfctl unzipped (pip install or pipx install), or set {override_env} to a folder of {name}",
        )
    return bundled


def empty_dir_error(what: str, directory: Path, override_env: str, holds: str) -> ConfigError:
    """A data folder with nothing kfctl can use: say which folder, and what would fix it."""
    state = "does not exist" if not directory.is_dir() else f"holds no {holds}"
    if os.environ.get(override_env):
        hint = f"point {override_env} at a folder holding {holds}, or unset it to use the ones bundled with kfctl"
    else:
        hint = f"this kfctl installation lacks its bundled data: reinstall kfctl, or set {override_env}"
    return ConfigError(f"the {what} {directory} {state}", hint=hint)
