"""GitRepository reconciler (work in progress: the skeleton registers the kind)."""

from __future__ import annotations

from afflux.api import GitRepository
from afflux.controllers.runtime import PhaseResult, ReconcileContext, Reconciler, Resource

from ._context import SourceContext

GIT_REPOSITORY = Resource(GitRepository.GROUP, GitRepository.VERSION, GitRepository.KIND,
                          GitRepository.PLURAL)


def git_reconciler(source: SourceContext) -> Reconciler[GitRepository]:
    async def pending(ctx: ReconcileContext[GitRepository]) -> PhaseResult | None:
        ctx.set_ready("Succeeded", "not implemented yet")
        return None

    return Reconciler(GIT_REPOSITORY, [pending], parse=GitRepository.from_dict)
