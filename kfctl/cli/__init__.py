"""typer commands only: parse options, call one core function, render the result."""
