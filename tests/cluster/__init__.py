"""Cluster profile tests against the real PostgreSQL, Redis and nginx."""
