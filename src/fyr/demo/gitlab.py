"""GitLab webhooks for the demo's scenarios, shaped like GitLab 17 sends them (docs/wire-formats.md 'Payloads')."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from fyr.demo.scenarios import Scenario

GITLAB = "https://gitlab.acme.example"


def _ids(sc: Scenario) -> tuple[int, int, int]:
    base = int(sc.commit[:6], 16) % 90_000 + 10_000
    return base, base * 10 + 1, base // 10  # pipeline id, deploy job id, MR iid


def pipeline_hook(sc: Scenario) -> dict[str, Any]:
    pipeline_id, job_id, mr_iid = _ids(sc)
    project_url = f"{GITLAB}/{sc.project}"
    return {
        "object_kind": "pipeline",
        "object_attributes": {"id": pipeline_id, "iid": pipeline_id % 1000, "ref": "main", "tag": False,
                              "sha": sc.commit, "status": "running", "source": "push",
                              "url": f"{project_url}/-/pipelines/{pipeline_id}"},
        "merge_request": {"iid": mr_iid, "url": f"{project_url}/-/merge_requests/{mr_iid}",
                          "title": f"Deploy {sc.name}", "state": "merged"},
        "user": {"name": "Demo Dev", "username": "demo"},
        "project": {"id": pipeline_id // 7, "name": sc.project.split("/")[-1],
                    "path_with_namespace": sc.project, "web_url": project_url},
        "commit": {"id": sc.commit, "message": f"Release {sc.name}", "url": f"{project_url}/-/commit/{sc.commit}"},
        "builds": [{"id": job_id, "stage": "deploy", "name": "deploy-production", "status": "running",
                    "environment": {"name": "production", "action": "start"}}],
    }


def deployment_hook(sc: Scenario) -> dict[str, Any]:
    _, job_id, _ = _ids(sc)
    project_url = f"{GITLAB}/{sc.project}"
    return {
        "object_kind": "deployment", "status": "running", "status_changed_at": "2026-11-27 10:00:00 +0000",
        "deployment_id": job_id + 7, "deployable_id": job_id,
        "deployable_url": f"{project_url}/-/jobs/{job_id}", "environment": "production",
        "environment_slug": "production", "environment_tier": "production",
        "project": {"id": job_id // 70, "name": sc.project.split("/")[-1], "path_with_namespace": sc.project,
                    "web_url": project_url},
        "short_sha": sc.commit[:8], "commit_url": f"{project_url}/-/commit/{sc.commit}",
        "commit_title": f"Release {sc.name}", "ref": "main",
    }


async def post_hooks(client: httpx.AsyncClient, url: str, token: str, sc: Scenario) -> None:
    """The pipeline hook, then the deploy job's Deployment hook; raises on a non-2xx answer."""
    for event, body in (("Pipeline Hook", pipeline_hook(sc)), ("Deployment Hook", deployment_hook(sc))):
        resp = await client.post(url, content=json.dumps(body), headers={
            "Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Token": token,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()), "X-Gitlab-Instance": GITLAB,
            "User-Agent": "GitLab/17.11.0",
        })
        resp.raise_for_status()
