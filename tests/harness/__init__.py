"""Test harness: waiting, and pytest fixtures that start the real parts on loopback."""

from .wait import eventually

__all__ = ["eventually"]
