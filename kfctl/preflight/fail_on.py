"""What makes a preflight run fail: a module of its own so the command line can name it in
`--fail-on` without loading the report types (`kfctl --help` imports every command's options)."""

from enum import StrEnum


class FailOn(StrEnum):
    """What makes the run fail: only failures (the default), or warnings and unknowns too (strict CI)."""

    FAIL = "fail"
    WARN = "warn"
