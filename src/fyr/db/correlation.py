"""GitLab correlation, rollout side: staged GitLab metadata joins a rollout seen later.

(The ingestor's staging functions live here too; this first part is what the watcher's path needs.)
"""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.models.gitlab import GitlabMetadata
from fyr.models.rollout import Origin, Rollout

_HEX_TAG = re.compile(r"^[0-9a-f]{7,40}$")


def image_commit_prefix(image: str | None) -> str | None:
    """An image tag that is a hex prefix (≥ 7) of a commit SHA names the commit."""
    if not image or "@" in image.rsplit("/", 1)[-1]:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1].lower()
    return tag if _HEX_TAG.match(tag) else None


async def attach_staged(session: AsyncSession, rollout: Rollout) -> bool:
    """Fill the rollout's git fields from the best staged match; True when something was attached."""
    conds = []
    if rollout.git_commit:
        conds.append(GitlabMetadata.commit_sha == rollout.git_commit)
    prefix = image_commit_prefix(rollout.image)
    if prefix:
        conds.append(GitlabMetadata.commit_sha.startswith(prefix))
    if rollout.gitlab_app:
        slug_cond = GitlabMetadata.project_slug == rollout.gitlab_app
        if rollout.gitlab_env:
            slug_cond = slug_cond & (GitlabMetadata.environment == rollout.gitlab_env)
        conds.append(slug_cond)
    if not conds:
        return False
    stmt = select(GitlabMetadata).where(or_(*conds)).order_by(GitlabMetadata.updated_at.desc()).limit(1)
    staged = (await session.execute(stmt)).scalar_one_or_none()
    if staged is None:
        return False
    for field, value in (
        ("git_project", staged.project_path), ("git_commit", staged.commit_sha),
        ("pipeline_url", staged.pipeline_url), ("mr_url", staged.mr_url),
        ("team", staged.team), ("slack_channel", staged.slack_channel),
    ):
        if value and getattr(rollout, field) is None:
            setattr(rollout, field, value)
    if rollout.origin == Origin.K8S:
        rollout.origin = Origin.MIXED
    return True
