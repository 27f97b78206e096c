"""Test doubles of outside services MATIH cannot reach here, speaking their real wire protocols."""
