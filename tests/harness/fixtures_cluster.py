"""Cluster fixtures (filled in by the Foundation work)."""
