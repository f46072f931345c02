// faceattrs web page, video files: uploaded to a server job (progress, annotated video,
// per-person summary) or analysed inside the page. Loaded before app.js, which holds the
// shared helpers ($, el, the analysis mode) these functions use when called (drawFaces,
// faceLabel, sure: labels.js).
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
  const job = { id: null, xhr: null, cancelled: false, url: URL.createObjectURL(file) };
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
    const [summary, timeline] = await Promise.all([
      fetch(state.links.summary).then((r) => r.json()),
      fetch(state.links.timeline).then((r) => r.text()),
    ]);
    const frames = timeline.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const rows = byPerson(summary, frames);
    await showVideoResult({ video: job.url, fallback: state.links.video, links: state.links, frames, tracks: rows });
    setVideoStatus(`Done: ${plural(state.frames_done, "frame")} analysed.`);
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
    setVideoStatus("Loading the model that tells people apart (once)…");
    const result = await walker.walkVideo(source,
      walker.frameAnalyser(analyzer, pipeline.toImageData),
      {
        step: LOCAL_VIDEO_STEP,
        job,
        persons: true, // tracks joined into persons by face embedding, kept in this page only
        onModelProgress: showModelLoad,
        onProgress: (f, n) => {
          progress.value = f;
          setVideoStatus(`Analysing in this browser… ${plural(n, "frame")} (every ${LOCAL_VIDEO_STEP} s)`);
        },
      });
    source.removeAttribute("src");
    if (job.cancelled) return;
    progress.value = 1;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const rows = result.persons ? byPerson(result, result.frames) : result.tracks;
    await showVideoResult({ video: job.url, frames: result.frames, tracks: rows });
    const cuts = result.cuts.length ? `, ${plural(result.cuts.length, "scene cut")}` : "";
    const persons = result.persons ? `, ${plural(result.persons.length, "person")}` : ` (${result.personsError})`;
    $("video-result").dataset.trackCount = String(result.tracks.length);
    setVideoStatus(`Done in this browser: ${plural(result.frames.length, "frame")} analysed in ${seconds} s${cuts}${persons}.`);
    $("video-cancel").hidden = true;
  } catch (error) {
    if (!job.cancelled) {
      setVideoStatus(`Error: ${error.message || error}`, true);
      $("video-cancel").disabled = true;
    }
  }
}

/** The analysed frame at or last before `time` (frames sorted by time). */
function frameAt(frames, time) {
  let low = 0;
  let high = frames.length - 1;
  let found = null;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (frames[mid].time <= time + 1e-3) { found = frames[mid]; low = mid + 1; } else high = mid - 1;
  }
  return found;
}

/** Draw the faces of the analysed frame nearest before the player's time, each labelled
 * with its person's summary (the table row), not the single frame's guess. */
function drawVideoOverlay(frames, people) {
  const player = $("video-player");
  const overlay = $("video-overlay");
  overlay.width = player.videoWidth || 640;
  overlay.height = player.videoHeight || 360;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const shown = frameAt(frames, player.currentTime);
  if (!shown) return;
  const personLabel = (face) => faceLabel(people.get(face.track_id) || face);
  drawFaces(ctx, shown.faces, shown.width || overlay.width, shown.height || overlay.height, personLabel);
}

/** The summary's rows: one per person when the server joined tracks into persons
 * (re-identification), else one per track. In person mode each face of the timeline is
 * keyed by its person (a track never identified keeps a key of its own, 1000 + its id). */
function byPerson(summary, frames) {
  if (!summary.persons) return summary.tracks || [];
  const keyOf = (personId, trackId) => personId ?? 1000 + trackId;
  const nameOf = (personId, trackId) => (personId != null ? `#${personId}` : `track ${trackId}`);
  for (const frame of frames) {
    for (const face of frame.faces) {
      face.name = nameOf(face.person_id, face.track_id);
      face.track_id = keyOf(face.person_id, face.track_id);
    }
  }
  return summary.persons.map((person) => ({
    ...person,
    track_id: keyOf(person.person_id, person.tracks[0]),
    name: nameOf(person.person_id, person.tracks[0]),
  }));
}

/** The expression shown most of a person's time ("happy 62% of the time"), when known. */
function mostly(shares) {
  if (!shares || !Object.keys(shares).length) return [];
  const top = Object.keys(shares).reduce((a, b) => (shares[b] > shares[a] ? b : a));
  return [el("small", { className: "expression" }, `${top} ${Math.round(100 * shares[top])}% of the time`)];
}

/** Whether the player can decode `url` (resolves false on an error or after 5 s). */
function playable(player, url) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), 5000);
    const finish = (ok) => {
      clearTimeout(timer);
      player.onloadeddata = null;
      player.onerror = null;
      resolve(ok);
    };
    player.onloadeddata = () => finish(true);
    player.onerror = () => finish(false);
    player.src = url;
  });
}

/** The crop of each person's best-detected face, from the timeline and a video the
 * browser can decode (server mode; the in-browser walk makes its crops as it goes). */
async function addCrops(url, frames, tracks) {
  const best = new Map();
  for (const frame of frames) {
    for (const face of frame.faces) {
      const [x1, y1, x2, y2] = face.box;
      const quality = face.score * (x2 - x1) * (y2 - y1);
      if (!(best.get(face.track_id)?.quality >= quality)) best.set(face.track_id, { quality, face, time: frame.time });
    }
  }
  const { openVideo, faceCrop } = await import("./inbrowser/video.js");
  const source = await openVideo(url);
  for (const track of tracks) {
    const pick = best.get(track.track_id);
    if (!pick || track.crop) continue;
    await new Promise((resolve) => {
      source.onseeked = resolve;
      source.currentTime = pick.time + 1e-3;
    });
    track.crop = faceCrop(source, pick.face.box);
  }
  source.removeAttribute("src");
}

/** Show a finished video: the uploaded file plays (when this browser decodes it; else
 * the server's annotated video) with each person's box and summary label drawn over it;
 * the table has one row per person with a face crop. */
async function showVideoResult({ video, fallback = null, links = null, frames, tracks }) {
  const player = $("video-player");
  const overlay = $("video-overlay");
  const people = new Map(tracks.map((track) => [track.track_id, track]));
  const ownPicture = await playable(player, video);
  if (!ownPicture && fallback) player.src = fallback; // boxes drawn in by the server
  overlay.hidden = !ownPicture;
  if (ownPicture) {
    player.ontimeupdate = () => drawVideoOverlay(frames, people);
    player.onseeked = player.ontimeupdate;
    player.onloadeddata = player.ontimeupdate;
    drawVideoOverlay(frames, people);
  }
  if (links) await addCrops(ownPicture ? video : fallback, frames, tracks).catch(() => {});
  player.play().catch(() => {});
  const tbody = $("video-summary").querySelector("tbody");
  tbody.replaceChildren();
  for (const [index, track] of tracks.entries()) {
    const id = track.track_id ?? index + 1;
    const colour = COLOURS[id % COLOURS.length];
    const seen = `${track.first_time.toFixed(1)}–${track.last_time.toFixed(1)}\u00a0s`;
    const [low, high] = track.age_interval;
    const name = track.name ?? `#${id}`;
    const crop = track.crop ? el("img", { className: "crop", src: track.crop, alt: `face of ${name}` }) : el("span", { className: "crop" });
    tbody.append(el("tr", { "data-track": String(id) },
      el("td", {}, el("span", { className: "swatch", style: `--c:${colour}` }), name),
      el("td", {}, crop),
      el("td", {}, seen, el("small", {}, plural(track.frames, "frame")), ...mostly(track.expression_shares)),
      el("td", {}, `${Math.round(track.age)}`, el("small", {}, `${Math.round(low)}–${Math.round(high)}`)),
      el("td", {}, sure(track.gender, track.gender_probs[track.gender])),
      el("td", {}, sure(track.race, track.race_probs[track.race]))));
  }
  if (!tracks.length) tbody.append(el("tr", {}, el("td", { colSpan: 6 }, "No face found in the video.")));
  if (!links) {
    $("video-links").replaceChildren("Analysed in this browser; nothing was uploaded.");
  } else $("video-links").replaceChildren("Download: ",
    el("a", { href: links.video, download: "annotated.webm" }, "annotated video"), " · ",
    el("a", { href: links.timeline, target: "_blank" }, "timeline (JSON Lines)"), " · ",
    el("a", { href: links.summary, target: "_blank" }, "summary (JSON)"),
    ownPicture ? "" : " (this browser cannot play the uploaded file, so the annotated video is shown)");
  $("video-result").hidden = false;
  $("video-result").dataset.tracks = String(tracks.length);
  $("video-result").dataset.overlay = String(ownPicture);
}
