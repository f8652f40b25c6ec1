"""Pure translation: a parsed GitLab hook → what it contributes to correlation, and the dedupe key.

docs/wire-formats.md 'Where each Fyr field comes from' says where each Fyr field comes from; this module is that table
in code. No I/O.
"""

from __future__ import annotations

import hashlib

from fyr.core.gitlab_events import GitlabEvent, JobLink, Staging
from fyr.core.gitlab_match import slug_is_name
from fyr.services.gitlab_ingestor.webhooks import (
    DeploymentHook,
    Hook,
    JobHook,
    MergeRequestHook,
    PipelineHook,
    Project,
)

MAX_DEPLOY_JOBS = 200  # deploy jobs per pipeline considered; bounds one request's database work


def dedupe_key(*, idempotency_key: str | None, event_uuid: str | None, kind: str, body_sha256: str) -> str:
    """docs/architecture.md 'GitLab correlation': Idempotency-Key (stable across GitLab's resends); else event UUID +
    kind + body.

    The UUID alone can be shared by two different (recursive) events, hence the kind and body hash.
    Hashed to a fixed 64 hex characters whatever the header length.
    """
    if idempotency_key:
        material = b"idem\x00" + idempotency_key.encode("utf-8", "surrogateescape")
    else:
        material = b"event\x00" + "\x00".join((event_uuid or "", kind, body_sha256)).encode(
            "utf-8", "surrogateescape")
    return hashlib.sha256(material).hexdigest()


def job_url_pipeline(project: Project, pipeline_id: int | None) -> str | None:
    """Job hooks carry no pipeline URL: `<web_url>/-/pipelines/<id>` (A6 fallback)."""
    if pipeline_id is None or not project.web_url:
        return None
    return f"{project.web_url.rstrip('/')}/-/pipelines/{pipeline_id}"


def _pipeline(hook: PipelineHook) -> GitlabEvent:
    attrs = hook.object_attributes
    path = hook.project.path_with_namespace
    url = attrs.url or job_url_pipeline(hook.project, attrs.id)
    mr_url = hook.merge_request.url if hook.merge_request else None
    stagings = [Staging(project_path=path, environment="", commit_sha=attrs.sha, pipeline_id=attrs.id,
                        pipeline_url=url, mr_url=mr_url)]
    # Only deploy jobs matter (a Deployment hook names its job); per environment the newest job.
    deploy_jobs: dict[str, int] = {}
    for build in hook.builds:
        if build.environment is not None:
            name = build.environment.name
            deploy_jobs[name] = max(build.id, deploy_jobs.get(name, build.id))
    # Rows keyed by a slug-shaped name meet the Deployment hook's row by key already; the others
    # (slug with a random suffix) meet it through the job id.
    links = [JobLink(job_id=build.id, pipeline_id=attrs.id, pipeline_url=url)
             for build in hook.builds
             if build.environment is not None and not slug_is_name(build.environment.name)
             ][:MAX_DEPLOY_JOBS]
    for name, job_id in list(deploy_jobs.items())[:MAX_DEPLOY_JOBS]:
        stagings.append(Staging(project_path=path, environment=name, commit_sha=attrs.sha,
                                pipeline_id=attrs.id, pipeline_url=url, mr_url=mr_url, job_id=job_id))
    return GitlabEvent(project_path=path, commit_sha=attrs.sha, stagings=tuple(stagings),
                       job_links=tuple(links))


def _job(hook: JobHook) -> GitlabEvent:
    path = hook.project.path_with_namespace
    url = job_url_pipeline(hook.project, hook.pipeline_id)
    stagings = [Staging(project_path=path, environment="", commit_sha=hook.sha,
                        pipeline_id=hook.pipeline_id, pipeline_url=url)]
    if hook.environment is not None:
        stagings.append(Staging(project_path=path, environment=hook.environment.name, commit_sha=hook.sha,
                                pipeline_id=hook.pipeline_id, pipeline_url=url, job_id=hook.build_id))
    links: tuple[JobLink, ...] = ()
    if (hook.pipeline_id is not None and hook.environment is not None
            and not slug_is_name(hook.environment.name)):
        links = (JobLink(job_id=hook.build_id, pipeline_id=hook.pipeline_id, pipeline_url=url),)
    return GitlabEvent(project_path=path, commit_sha=hook.sha, stagings=tuple(stagings), job_links=links)


def _deployment(hook: DeploymentHook) -> GitlabEvent:
    path = hook.project.path_with_namespace
    env = hook.environment_slug or hook.environment
    staging = Staging(project_path=path, environment=env, commit_sha=hook.sha, job_id=hook.deployable_id,
                      deployment_status=hook.status)
    return GitlabEvent(project_path=path, commit_sha=hook.sha, stagings=(staging,),
                       deployable_id=hook.deployable_id, deploy_env=env, deploy_env_name=hook.environment)


def _merge_request(hook: MergeRequestHook) -> list[GitlabEvent]:
    attrs = hook.object_attributes
    path = hook.project.path_with_namespace
    shas = []
    if attrs.last_commit is not None:
        shas.append(attrs.last_commit.id)
    if attrs.merge_commit_sha and attrs.merge_commit_sha not in shas:
        shas.append(attrs.merge_commit_sha)
    return [
        GitlabEvent(project_path=path, commit_sha=sha,
                    stagings=(Staging(project_path=path, environment="", commit_sha=sha, mr_url=attrs.url),))
        for sha in shas
    ]


def events_for(hook: Hook) -> list[GitlabEvent]:
    """What one parsed hook stages (an MR hook may name two commits: head and merge commit)."""
    if isinstance(hook, PipelineHook):
        return [_pipeline(hook)]
    if isinstance(hook, JobHook):
        return [_job(hook)]
    if isinstance(hook, DeploymentHook):
        return [_deployment(hook)]
    return _merge_request(hook)
