"""httpx, imported without the optional parts kfctl never uses.

At import httpcore probes for trio (an async backend) and httpx for its own command line (click, rich,
pygments); where those packages are installed the probes cost ~0.2 s on every run that talks to a cluster,
as much as a third of a no-op apply's engine. kfctl's client is synchronous and never runs `httpx` as a
command, so both are reported missing while httpx loads, then forgotten again.
"""

from __future__ import annotations

import sys

_NOT_NEEDED = ("trio", "httpx._main")
_hidden = [name for name in _NOT_NEEDED if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # None in sys.modules: the import raises ImportError
try:
    import httpx
finally:
    for _name in _hidden:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

__all__ = ["httpx"]
