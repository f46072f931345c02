"""The HTTP routes of the video jobs in ``faceattrs serve``: ``/api/v1/videos``.

Upload (checked by content and probed against the size and length limits), status and
progress, the results once done, and cancel/delete. The jobs themselves (queue, worker
threads, files, expiry) are :class:`faceattrs.server.jobs.VideoJobs`. FastAPI is imported lazily.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations.
from pathlib import Path
from typing import Any

from faceattrs.server.jobs import DONE, Rejected, TooManyJobs, VideoJob, VideoJobs

PREFIX = "/api/v1/videos"


def sniff_video(head: bytes) -> str | None:
    """The video container from the first bytes (MP4/MOV, WebM/MKV, AVI), or None."""
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def probe_video(path: Path, name: str, max_pixels: int, max_seconds: float) -> int | None:
    """Check that ``path`` is a readable video within the limits; returns its frame count.
    The frame size is checked from the stream's headers, before any frame is decoded."""
    from faceattrs.video.io import VideoLimitError
    from faceattrs.video.process import VideoError, VideoReader

    try:
        with VideoReader(path, max_pixels=max_pixels) as reader:
            info = reader.info
    except VideoLimitError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise Rejected(413, "too_many_pixels", f"{name}: {reason}") from None
    except VideoError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise Rejected(422, "unreadable_video", f"{name}: {reason}") from None
    if info.frame_count and info.frame_count / info.fps > max_seconds:
        raise Rejected(
            413,
            "video_too_long",
            f"{name}: {info.frame_count / info.fps:.1f} s is longer than the limit of "
            f"{max_seconds:g} s",
        )
    return info.frame_count


def job_to_dict(job: VideoJob, jobs: VideoJobs, prefix: str = PREFIX) -> dict[str, Any]:
    """The JSON status of a job, with links to its results when done."""
    base = f"{prefix}/{job.id}"
    links = {"self": base}
    if job.status == DONE:
        links.update(video=f"{base}/video", timeline=f"{base}/timeline", summary=f"{base}/summary")
    expires = jobs.expires_in(job)
    return {
        "id": job.id,
        "filename": job.filename,
        "status": job.status,
        "progress": round(job.progress, 4),
        "frames_done": job.frames_done,
        "frames_total": job.frames_total,
        "error": job.error,
        "attributes": None if job.attributes is None else list(job.attributes),
        "expires_in_s": None if expires is None else round(expires, 1),
        "links": links,
    }


def add_video_routes(
    app, jobs: VideoJobs, max_pixels: int, max_seconds: float, errors: dict, analyzer=None
) -> None:
    """The ``/api/v1/videos`` routes (FastAPI imported here, lazily); ``analyzer``: the
    server's, whose heads a job's ``attributes`` may choose from."""
    import shutil
    from typing import Annotated

    from fastapi import Query, Request, Response
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.requests import ClientDisconnect

    from faceattrs.server.attributes import (
        ATTRIBUTES_EXAMPLE,
        ATTRIBUTES_HELP,
        requested_attributes,
    )
    from faceattrs.server.settings import LOG

    def found(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise Rejected(
                404,
                "not_found",
                f"no video job {job_id} (finished jobs expire {jobs.ttl_s:g} s after they end)",
            )
        return job

    def result(job_id: str, name: str) -> Path:
        job = found(job_id)
        if job.status != DONE or job.outputs is None:
            raise Rejected(409, "not_ready", f"video job {job_id} is {job.status}, not done")
        return getattr(job.outputs, name)

    def save(upload, first: bytes, path: Path) -> None:
        with open(path, "wb") as out:
            out.write(first)
            shutil.copyfileobj(upload.file, out, 2**20)

    @app.post(
        PREFIX,
        status_code=202,
        summary="Start analysing a video",
        openapi_extra=_VIDEO_BODY,
        responses=errors,
    )
    async def create_video_job(
        request: Request,
        attributes: Annotated[
            str | None, Query(description=ATTRIBUTES_HELP, examples=[ATTRIBUTES_EXAMPLE])
        ] = None,
    ):
        """Upload a video (multipart field ``file``); returns the job (202) to poll. With
        ``?attributes=age,expression`` only those heads run and the timeline and summary
        carry only those fields."""
        heads = requested_attributes(analyzer, attributes)  # before the upload is read
        jobs.sweep()
        try:
            job_id, job_dir = jobs.new_dir()
        except TooManyJobs as exc:
            raise Rejected(429, "too_many_jobs", f"{exc}; try again later") from None
        try:
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise Rejected(
                        422,
                        "invalid_request",
                        "file: send the video as multipart form field 'file'",
                    )
                name = upload.filename or "video"
                first = await upload.read(64)
                if not first:
                    raise Rejected(400, "empty_file", f"{name}: empty file")
                kind = sniff_video(first)
                if kind is None:
                    raise Rejected(
                        415,
                        "unsupported_type",
                        f"{name}: not a supported video (MP4/MOV, WebM/MKV or AVI by content)",
                    )
                src = job_dir / f"input.{kind}"
                await run_in_threadpool(save, upload, first, src)
            frames = await run_in_threadpool(probe_video, src, name, max_pixels, max_seconds)
            job = jobs.submit(job_id, src, name, frames, heads)
        except TooManyJobs as exc:
            raise Rejected(429, "too_many_jobs", f"{exc}; try again later") from None
        except ClientDisconnect:  # nobody reads an answer: one log line, no traceback
            shutil.rmtree(job_dir, ignore_errors=True)
            LOG.info("client aborted a video upload")
            return Response(status_code=400)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        body = job_to_dict(job, jobs, PREFIX)
        return JSONResponse(body, status_code=202, headers={"Location": body["links"]["self"]})

    @app.get(f"{PREFIX}/{{job_id}}", summary="Status and progress of a video job", responses=errors)
    async def video_job(job_id: str) -> dict[str, Any]:
        return job_to_dict(found(job_id), jobs, PREFIX)

    @app.get(
        f"{PREFIX}/{{job_id}}/video",
        summary="The annotated video (WebM)",
        responses=errors,
        response_class=FileResponse,
    )
    async def video_file(job_id: str):
        return FileResponse(result(job_id, "video"), media_type="video/webm")

    @app.get(
        f"{PREFIX}/{{job_id}}/timeline",
        summary="Faces per frame, with track ids (JSON Lines)",
        responses=errors,
        response_class=FileResponse,
    )
    async def video_timeline(job_id: str):
        return FileResponse(result(job_id, "timeline"), media_type="application/x-ndjson")

    @app.get(
        f"{PREFIX}/{{job_id}}/summary",
        summary="One summary per tracked person",
        responses=errors,
        response_class=FileResponse,
    )
    async def video_summary(job_id: str):
        return FileResponse(result(job_id, "summary"), media_type="application/json")

    @app.delete(
        f"{PREFIX}/{{job_id}}",
        status_code=204,
        responses=errors,
        summary="Cancel a video job and remove its files",
    )
    async def delete_video_job(job_id: str):
        if not await run_in_threadpool(jobs.delete, job_id):
            raise Rejected(404, "not_found", f"no video job {job_id}")
        return Response(status_code=204)


_VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a video (MP4, MOV, WebM, MKV or AVI)",
                        }
                    },
                }
            }
        },
    }
}
