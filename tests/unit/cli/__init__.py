"""Unit tests of the afflux CLI: formatters, builders and argument parsing (no cluster)."""
