"""Serving: deployments, their rollouts and rollbacks."""
