// faceattrs web page, video files: uploaded to a server job (progress, annotated video,
// per-person summary) or analysed inside the page. Loaded before app.js, which holds the
// shared helpers ($, el, drawFaces, the analysis mode) these functions use when called.
"use strict";
// ---------- video ----------

let videoJob = null; // { id, xhr, cancelled } of the video on show

/** Cancel the current video job (or its upload) and delete it on the server. */
function forgetVideoJob(keepalive = false) {
  const job = videoJob;
  videoJob = null;
  if (!job) return;
  job.cancelled = true;
  if (job.url) URL.revokeObjectURL(job.url);
  if (job.xhr) job.xhr.abort();
  if (job.id) fetch(`${API}/videos/${job.id}`, { method: "DELETE", keepalive }).catch(() => {});
}

function setVideoStatus(text, isError = false) {
  const status = $("video-status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function uploadVideo(job, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    job.xhr = xhr;
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.open("POST", `${API}/videos`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status === 202) resolve(body);
      else reject(new Error(body.detail || `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("upload failed: the server could not be reached"));
    xhr.onabort = () => reject(new Error("upload cancelled"));
    xhr.send(form);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function resetVideoView(file) {
  forgetVideoJob();
  $("video-result").hidden = true;
  $("video-player").removeAttribute("src");
  $("video-player").ontimeupdate = null;
  $("video-overlay").hidden = true;
  $("video-job").hidden = false;
  $("video-cancel").disabled = false;
  $("video-cancel").hidden = false;
  $("video-name").textContent = file.name;
  $("video-progress").value = 0;
}

async function analyseVideo(file) {
  resetVideoView(file);
  const progress = $("video-progress");
  setVideoStatus("Uploading…");
  const job = { id: null, xhr: null, cancelled: false };
  videoJob = job;
  try {
    const created = await uploadVideo(job, file, (f) => {
      progress.value = f;
      setVideoStatus(`Uploading… ${percent(f)}`);
    });
    job.id = created.id;
    job.xhr = null;
    if (job.cancelled) {
      fetch(`${API}/videos/${job.id}`, { method: "DELETE" }).catch(() => {});
      return;
    }
    let state = created;
    while (!job.cancelled && (state.status === "queued" || state.status === "running")) {
      progress.value = state.progress;
      setVideoStatus(state.status === "queued" ? "Waiting for a free worker…"
        : `Analysing… frame ${state.frames_done}${state.frames_total ? ` of ${state.frames_total}` : ""}`);
      await sleep(400);
      const response = await fetch(`${API}/videos/${job.id}`);
      if (!response.ok) throw new Error(await errorText(response));
      state = await response.json();
    }
    if (job.cancelled) return;
    if (state.status !== "done") throw new Error(state.error || `the job was ${state.status}`);
    progress.value = 1;
    const summary = await (await fetch(state.links.summary)).json();
    showVideoResult(state, summary);
    setVideoStatus(`Done: ${state.frames_done} frames analysed.`);
    $("video-cancel").hidden = true;
  } catch (error) {
    if (!job.cancelled) {
      setVideoStatus(`Error: ${error.message || error}`, true);
      $("video-cancel").disabled = true;
    }
  }
}

/** Analyse a video file inside the page: a frame every LOCAL_VIDEO_STEP s, then the video
 * plays with the boxes of the nearest analysed frame drawn over it. Nothing is uploaded. */
async function analyseVideoLocally(file) {
  resetVideoView(file);
  const progress = $("video-progress");
  const job = { id: null, xhr: null, cancelled: false, url: URL.createObjectURL(file) };
  videoJob = job;
  try {
    setVideoStatus("Loading the models…");
    const { pipeline, analyzer, video: walker } = await localPipeline();
    const source = await walker.openVideo(job.url);
    const started = performance.now();
    const result = await walker.walkVideo(source,
      (frame) => analyzer.analyze(pipeline.toImageData(frame, frame.videoWidth, frame.videoHeight, LOCAL_MAX_SIDE)),
      {
        step: LOCAL_VIDEO_STEP,
        job,
        onProgress: (f, n) => {
          progress.value = f;
          setVideoStatus(`Analysing in this browser… ${n} frames (every ${LOCAL_VIDEO_STEP} s)`);
        },
      });
    source.removeAttribute("src");
    if (job.cancelled) return;
    progress.value = 1;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    showVideoResult({ video: job.url, frames: result.frames }, { tracks: result.tracks });
    setVideoStatus(`Done in this browser: ${result.frames.length} frames analysed in ${seconds} s.`);
    $("video-cancel").hidden = true;
  } catch (error) {
    if (!job.cancelled) {
      setVideoStatus(`Error: ${error.message || error}`, true);
      $("video-cancel").disabled = true;
    }
  }
}

/** Draw the faces of the analysed frame nearest before the player's time. */
function drawVideoOverlay(frames) {
  const player = $("video-player");
  const overlay = $("video-overlay");
  overlay.width = player.videoWidth || 640;
  overlay.height = player.videoHeight || 360;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  let shown = null;
  for (const frame of frames) if (frame.time <= player.currentTime + 1e-3) shown = frame;
  if (shown) drawFaces(ctx, shown.faces, shown.width, shown.height);
}

/** Show a finished video: the server's job `state` with its links, or a local result
 * ({video: object URL, frames}) whose boxes are drawn over the original video. */
function showVideoResult(state, summary) {
  const player = $("video-player");
  const local = !state.links;
  player.src = local ? state.video : state.links.video;
  $("video-overlay").hidden = !local;
  if (local) {
    player.ontimeupdate = () => drawVideoOverlay(state.frames);
    player.onloadeddata = () => drawVideoOverlay(state.frames);
  }
  player.play().catch(() => {});
  const tbody = $("video-summary").querySelector("tbody");
  tbody.replaceChildren();
  const tracks = summary.tracks || [];
  for (const [index, track] of tracks.entries()) {
    const id = track.track_id ?? index + 1;
    const colour = COLOURS[id % COLOURS.length];
    const seen = `${track.first_time.toFixed(1)}–${track.last_time.toFixed(1)} s`;
    const best = (probs, label) => percent(probs[label]);
    const [low, high] = track.age_interval;
    tbody.append(el("tr", { "data-track": String(id) },
      el("td", {}, el("span", { className: "swatch", style: `--c:${colour}` }), `#${id}`),
      el("td", {}, seen, el("small", {}, `${track.frames} frames`)),
      el("td", {}, `${Math.round(track.age)}`, el("small", {}, `${Math.round(low)}–${Math.round(high)}`)),
      el("td", {}, track.gender, el("small", {}, best(track.gender_probs, track.gender))),
      el("td", {}, track.race, el("small", {}, best(track.race_probs, track.race)))));
  }
  if (!tracks.length) tbody.append(el("tr", {}, el("td", { colSpan: 5 }, "No face found in the video.")));
  if (local) {
    $("video-links").replaceChildren("Analysed in this browser; nothing was uploaded.");
  } else $("video-links").replaceChildren("Download: ",
    el("a", { href: state.links.video, download: "annotated.webm" }, "annotated video"), " · ",
    el("a", { href: state.links.timeline, target: "_blank" }, "timeline (JSON Lines)"), " · ",
    el("a", { href: state.links.summary, target: "_blank" }, "summary (JSON)"));
  $("video-result").hidden = false;
  $("video-result").dataset.tracks = String(tracks.length);
}
