"""Options shared by every command (kubectl-style globals) and the one error boundary."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

import typer

from kfctl.errors import ExitCode, KfctlError
from kfctl.output import OutputFormat, emit, log_console

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class GlobalOptions:
    kubeconfig: str | None = None
    context: str | None = None
    debug: bool = False


def global_options(ctx: typer.Context) -> GlobalOptions:
    options = ctx.find_root().obj
    return options if isinstance(options, GlobalOptions) else GlobalOptions()


def error_boundary(command: Callable[P, R]) -> Callable[P, R]:
    """Turn KfctlError into one line on stderr and its exit code; --debug adds the traceback. With
    `-o json|yaml` an error document goes to stdout too (exitCode, reason, message, hint, detail), so
    a script reads the failure from the same stream as the result."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        debug = "--debug" in sys.argv
        output = kwargs.get("output")
        structured = output if isinstance(output, OutputFormat) and output is not OutputFormat.TABLE else None
        try:
            return command(*args, **kwargs)
        except KfctlError as error:
            from rich.markup import escape

            if debug:
                traceback.print_exc()
            log_console().print(f"[red]error:[/red] {escape(error.one_line())}", markup=True, highlight=False)
            if structured:
                emit("Error", error_document(error), structured)
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            log_console().print("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as error:  # a bug: still one line, the traceback only with --debug
            from rich.markup import escape

            if debug:
                traceback.print_exc()
            text = " ".join(str(error).split())[:300]
            log_console().print(
                f"[red]internal error:[/red] {type(error).__name__}: {escape(text)} (rerun with --debug and report it)",
                markup=True,
                highlight=False,
            )
            if structured:
                emit(
                    "Error",
                    {
                        "exitCode": int(ExitCode.FAILED),
                        "reason": "InternalError",
                        "message": f"{type(error).__name__}: {text}",
                    },
                    structured,
                )
            raise typer.Exit(int(ExitCode.FAILED)) from None

    return wrapper


def error_document(error: KfctlError) -> dict[str, object]:
    document: dict[str, object] = {
        "exitCode": int(error.exit_code),
        "reason": type(error).__name__,
        "message": " ".join(error.message.split()),
    }
    if error.hint:
        document["hint"] = error.hint
    if error.detail:
        document["detail"] = error.detail
    return document


def exit_with(code: ExitCode) -> None:
    raise typer.Exit(int(code))
