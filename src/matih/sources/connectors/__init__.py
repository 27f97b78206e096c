"""Built-in connectors, one folder each; each module exposes ``CONNECTOR``."""

__all__: list[str] = []
