"""Background video jobs for the web server: queue, progress, cancel, expiry.

Lifecycle of a job's temporary folder (one per job, under the server's work dir):

* the upload is written there, then analysed in a worker thread;
* the upload is deleted as soon as the job ends (done, failed or cancelled);
* the results (annotated video, timeline, summary) stay until the client deletes
  the job or ``ttl_s`` seconds after it ended, whichever comes first;
* a cancelled or failed job keeps nothing; on server shutdown every folder goes.

The HTTP routes that create and serve the jobs are in :mod:`faceattrs.server.videos`.
"""

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from faceattrs.server.errors import ApiError as Rejected
from faceattrs.server.errors import one_line, without_paths

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)

ProgressFn = Callable[[int, int | None], None]
CancelledFn = Callable[[], bool]


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
    """Analyses one video into ``out_dir``; called with ``attributes=`` (the heads to
    run) only when the client chose some."""

    def __call__(
        self, src: Path, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn, name: str
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
    attributes: tuple[str, ...] | None = None  # the heads asked for; None: all

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

    def submit(
        self,
        job_id: str,
        src: Path,
        filename: str,
        frames_total: int | None,
        attributes: tuple[str, ...] | None = None,
    ) -> VideoJob:
        """Start analysing ``src`` (inside the folder from :meth:`new_dir`) with the
        ``attributes`` heads (None: all)."""
        job = VideoJob(job_id, src.parent, src, filename, frames_total, attributes=attributes)
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

        options = {} if job.attributes is None else {"attributes": job.attributes}
        try:
            outputs = self._processor(
                job.src, job.dir, progress, job.cancel.is_set, name=job.filename, **options
            )
        except JobCancelled:
            self._end(job, CANCELLED)
        except Exception as exc:  # reported to the client in one line, naming no server file
            detail = exc.detail if isinstance(exc, Rejected) else one_line(exc)
            detail = without_paths(detail, job.src, replacement=job.filename)
            self._end(job, FAILED, without_paths(detail, job.dir, self._root, replacement="…"))
        else:
            job.outputs = outputs
            self._end(job, CANCELLED if job.cancel.is_set() else DONE)

    def _end(self, job: VideoJob, status: str, error: str | None = None) -> None:
        job.src.unlink(missing_ok=True)
        if status != DONE:  # cleaned up before a client can see the job as ended
            shutil.rmtree(job.dir, ignore_errors=True)
        job.error = error
        job.ended = time.monotonic()
        job.status = status
        with self._lock:
            gone = job.id not in self._jobs
        if gone:  # deleted while running: make sure late writes are removed
            shutil.rmtree(job.dir, ignore_errors=True)


def video_processor(
    analyzer, max_seconds: float, every: int = 1, limits: dict[str, int | None] | None = None
) -> Processor:
    """What a job runs: :func:`faceattrs.video.process.process_video` into the job's folder,
    writing a WebM (VP8, plays in browsers), a JSON Lines timeline and a summary.
    ``limits``: :class:`~faceattrs.video.io.VideoReader`'s, checked while decoding."""

    def process(
        src: Path,
        out_dir: Path,
        progress: ProgressFn,
        cancelled: CancelledFn,
        name: str,
        attributes: tuple[str, ...] | None = None,
    ):
        from faceattrs.video.persons import can_identify
        from faceattrs.video.process import VideoReader, frame_analyzer, process_video

        with VideoReader(src) as reader:
            fps, width, height = reader.info.fps, reader.info.width, reader.info.height

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
            analyzer=frame_analyzer(analyzer, width, height),  # as `faceattrs video`
            every=every,
            progress=on_frame,
            source_name=name,
            limits=limits,
            persons=can_identify(analyzer),  # embeddings stay in memory, for this job only
            attributes=attributes,
        )
        return outputs

    return process
