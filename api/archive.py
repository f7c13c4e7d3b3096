"""Archive storage over the API: asking for a restore and following its job.

The same domain functions as the version page (registry.archiving); versions are fetched
through registry.access, jobs through the team filter of the permission policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from accounts.policy import Action, teams_q
from api.params import ERRORS, Name_, Team_, Version_
from registry import archiving
from registry.access import version_for_user
from registry.models import Job

router = Router(tags=["archive"])
VERSION_PATH = "/models/{team}/{name}/versions/{version}"


class JobOut(Schema):
    id: int
    kind: str
    state: str
    version: str | None
    progress_done: int
    progress_total: int
    attempts: int
    last_error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RestoreOut(Schema):
    archived: bool
    job: JobOut | None


def job_out(job: Job) -> dict[str, Any]:
    version = job.version
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "version": f"{version.model.team.slug}/{version.model.name}@{version.version}"
        if version
        else None,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


@router.post(
    VERSION_PATH + "/restore",
    response={200: RestoreOut, 202: RestoreOut, **ERRORS},
    url_name="api-version-restore",
)
def restore(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> Status:
    """Copy an archived version's files back to hot storage (maintainers). 202 with the
    restore job (the one under way if asked twice); 200 with no job when every file is
    hot already. Downloads answer 409 "archived" until the job is done."""
    mv = version_for_user(request.user, team, name, version, Action.MAINTAIN)
    job = archiving.request_restore(mv, request.user)
    if job is None:
        return Status(200, {"archived": False, "job": None})
    job = Job.objects.select_related("version__model__team").get(pk=job.pk)
    return Status(202, {"archived": True, "job": job_out(job)})


@router.get("/jobs/{job_id}", response={200: JobOut, **ERRORS}, url_name="api-job")
def get_job(request: HttpRequest, job_id: int) -> dict[str, Any]:
    """An archive, restore or retention-sweep job of a team you can read."""
    job = get_object_or_404(
        Job.objects.filter(teams_q(request.user, Action.VIEW, "team")).select_related(
            "version__model__team"
        ),
        pk=job_id,
    )
    return job_out(job)
