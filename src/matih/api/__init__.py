"""The HTTP API: one FastAPI app over the core library."""
