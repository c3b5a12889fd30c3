"""Git server, OCI registry and test CA fixtures (filled in by the Foundation work)."""
