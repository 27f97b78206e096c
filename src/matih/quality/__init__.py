"""Data quality: expectation suites on Great Expectations (SQL in the warehouse) and table profiles."""
