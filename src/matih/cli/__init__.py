"""The ``matih`` command line: a thin Typer layer over the library (entry point ``matih.cli.main:main``).
Nothing imports it but the console script."""

__all__: list[str] = []
