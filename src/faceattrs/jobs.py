"""Background video jobs for the web server: queue, progress, cancel, expiry.

Lifecycle of a job's temporary folder (one per job, under the server's work dir):

* the upload is written there, then analysed in a worker thread;
* the upload is deleted as soon as the job ends (done, failed or cancelled);
* the results (annotated video, timeline, summary) stay until the client deletes
  the job or ``ttl_s`` seconds after it ended, whichever comes first;
* a cancelled or failed job keeps nothing; on server shutdown every folder goes.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations.
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PREFIX = "/api/v1/videos"
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)

ProgressFn = Callable[[int, int | None], None]
CancelledFn = Callable[[], bool]


class Rejected(Exception):
    """A client error: answered as ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class JobCancelled(Exception):
    """Raised inside a processor when the job was cancelled."""


class TooManyJobs(Exception):
    """Raised when every video worker is busy."""


@dataclass(frozen=True)
class JobOutputs:
    """What a finished job leaves behind: files inside the job's folder."""

    video: Path
    timeline: Path
    summary: Path


class Processor(Protocol):
    def __call__(
        self, src: Path, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn
    ) -> JobOutputs: ...


@dataclass
class VideoJob:
    """One uploaded video and the state of its analysis."""

    id: str
    dir: Path
    src: Path
    filename: str
    frames_total: int | None = None
    status: str = QUEUED
    frames_done: int = 0
    error: str | None = None
    outputs: JobOutputs | None = None
    ended: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> float:
        if self.status == DONE:
            return 1.0
        if not self.frames_total:
            return 0.0
        return min(self.frames_done / self.frames_total, 0.99)


class VideoJobs:
    """At most ``max_jobs`` videos analysed at once, each in its own temporary folder."""

    def __init__(
        self, processor: Processor, max_jobs: int, ttl_s: float, work_dir: str | Path | None = None
    ) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self._processor = processor
        self._max_jobs = max_jobs
        self._ttl_s = ttl_s
        self._root = Path(tempfile.mkdtemp(prefix="faceattrs-jobs-", dir=work_dir))
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="faceattrs-job")
        self._jobs: dict[str, VideoJob] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def active_count(self) -> int:
        with self._lock:
            return sum(job.status not in ENDED for job in self._jobs.values())

    def new_dir(self) -> tuple[str, Path]:
        """Reserve a job id and its empty folder (to stream the upload into)."""
        if self.active_count() >= self._max_jobs:
            raise TooManyJobs(f"at most {self._max_jobs} video jobs may run at once")
        job_id = uuid.uuid4().hex
        job_dir = self._root / job_id
        job_dir.mkdir()
        return job_id, job_dir

    def submit(self, job_id: str, src: Path, filename: str, frames_total: int | None) -> VideoJob:
        """Start analysing ``src`` (inside the folder from :meth:`new_dir`)."""
        job = VideoJob(job_id, src.parent, src, filename, frames_total)
        with self._lock:
            if sum(j.status not in ENDED for j in self._jobs.values()) >= self._max_jobs:
                shutil.rmtree(job.dir, ignore_errors=True)
                raise TooManyJobs(f"at most {self._max_jobs} video jobs may run at once")
            self._jobs[job_id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str) -> VideoJob | None:
        self.sweep()
        with self._lock:
            return self._jobs.get(job_id)

    def expires_in(self, job: VideoJob) -> float | None:
        if job.ended is None:
            return None
        return max(0.0, self._ttl_s - (time.monotonic() - job.ended))

    def delete(self, job_id: str) -> bool:
        """Cancel the job if it runs, and remove it and its files. False if unknown."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        job.cancel.set()
        shutil.rmtree(job.dir, ignore_errors=True)  # the worker removes late writes too
        return True

    def sweep(self, now: float | None = None) -> int:
        """Remove jobs that ended more than ``ttl_s`` ago; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            expired = [
                job_id
                for job_id, job in self._jobs.items()
                if job.ended is not None and now - job.ended > self._ttl_s
            ]
        return sum(self.delete(job_id) for job_id in expired)

    def close(self) -> None:
        """Cancel everything, wait for the workers and remove every file."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, job: VideoJob) -> None:
        if job.cancel.is_set():
            self._end(job, CANCELLED)
            return
        job.status = RUNNING

        def progress(done: int, total: int | None) -> None:
            job.frames_done = done
            if total:
                job.frames_total = total

        try:
            outputs = self._processor(job.src, job.dir, progress, job.cancel.is_set)
        except JobCancelled:
            self._end(job, CANCELLED)
        except Rejected as exc:
            self._end(job, FAILED, exc.detail)
        except Exception as exc:  # reported to the client as a one-line error
            self._end(job, FAILED, one_line(exc))
        else:
            job.outputs = outputs
            self._end(job, CANCELLED if job.cancel.is_set() else DONE)

    def _end(self, job: VideoJob, status: str, error: str | None = None) -> None:
        job.src.unlink(missing_ok=True)
        job.error = error
        job.status = status
        job.ended = time.monotonic()
        if status != DONE:
            shutil.rmtree(job.dir, ignore_errors=True)
        with self._lock:
            gone = job.id not in self._jobs
        if gone:  # deleted while running: make sure late writes are removed
            shutil.rmtree(job.dir, ignore_errors=True)


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
    """Check that ``path`` is a readable video within the limits; returns its frame count."""
    from faceattrs.video import VideoError, VideoReader

    try:
        with VideoReader(path) as reader:
            info = reader.info
    except VideoError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise Rejected(422, "unreadable_video", f"{name}: {reason}") from None
    if info.width * info.height > max_pixels:
        raise Rejected(
            413,
            "too_many_pixels",
            f"{name}: {info.width}x{info.height} frames are over the limit of "
            f"{max_pixels:,} pixels",
        )
    if info.frame_count and info.frame_count / info.fps > max_seconds:
        raise Rejected(
            413,
            "video_too_long",
            f"{name}: {info.frame_count / info.fps:.1f} s is longer than the limit of "
            f"{max_seconds:g} s",
        )
    return info.frame_count


def video_processor(analyzer, max_seconds: float, every: int = 1) -> Processor:
    """What a job runs: :func:`faceattrs.video.process_video` into the job's folder,
    writing a WebM (VP8, plays in browsers), a JSON Lines timeline and a summary."""

    def process(src: Path, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn):
        from faceattrs.video import VideoReader, process_video

        with VideoReader(src) as reader:
            fps = reader.info.fps

        def on_frame(done: int, total: int | None) -> None:
            if cancelled():
                raise JobCancelled
            if done > max_seconds * fps + 1:  # length unknown at upload: stop at the limit
                raise Rejected(413, "video_too_long", f"video longer than {max_seconds:g} s")
            progress(done, total)

        outputs = JobOutputs(
            out_dir / "annotated.webm", out_dir / "timeline.jsonl", out_dir / "summary.json"
        )
        process_video(
            src,
            video_out=outputs.video,
            timeline_out=outputs.timeline,
            summary_out=outputs.summary,
            analyzer=analyzer,
            every=every,
            progress=on_frame,
        )
        return outputs

    return process


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
        "expires_in_s": None if expires is None else round(expires, 1),
        "links": links,
    }


def add_video_routes(
    app, jobs: VideoJobs, max_pixels: int, max_seconds: float, errors: dict
) -> None:
    """The ``/api/v1/videos`` routes (FastAPI imported here, lazily)."""
    import shutil

    from fastapi import Request, Response
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

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
    async def create_video_job(request: Request):
        """Upload a video (multipart field ``file``); returns the job (202) to poll."""
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
            job = jobs.submit(job_id, src, name, frames)
        except TooManyJobs as exc:
            raise Rejected(429, "too_many_jobs", f"{exc}; try again later") from None
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
