"""Connector tests use the session's served sandbox (``served`` in tests/conftest.py)."""
