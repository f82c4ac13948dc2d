"""The ``safeguard`` command-line interface (Typer)."""
