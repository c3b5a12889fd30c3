"""The kopf settings every operator runs with: bookkeeping out of `status`, its Events off,
timeouts that end a frozen connection, and the initial list in pages (memory)."""

from __future__ import annotations

from afflux.controllers.runtime import kopf_settings
from afflux.controllers.runtime._operator import LIST_CHUNK


def test_the_initial_list_comes_in_pages() -> None:
    settings = kopf_settings()
    assert settings.watching.chunk_size == LIST_CHUNK == 500


def test_kopf_keeps_out_of_status_and_posts_no_events() -> None:
    settings = kopf_settings()
    assert settings.posting.enabled is False
    assert settings.persistence.finalizer.startswith("afflux.toolkit.fluxcd.io/")
    assert settings.watching.server_timeout and settings.watching.client_timeout
    assert settings.watching.client_timeout > settings.watching.server_timeout
