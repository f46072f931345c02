// faceattrs web page: images, a video and the live camera, analysed over the HTTP API
// or inside the page (inbrowser/, ONNX Runtime Web; nothing uploaded). Plain JS; boxes are
// drawn here, on canvases over the pictures. Without a faceattrs server behind the page (a
// static site from `faceattrs export-web`) only the in-browser mode is offered.
"use strict";

const API = "api/v1";
// Same colours as faceattrs.drawing (there BGR), so the video and the table agree.
const COLOURS = ["rgb(80,200,80)", "rgb(255,160,60)", "rgb(60,160,255)", "rgb(220,80,200)",
  "rgb(220,220,60)", "rgb(60,220,220)", "rgb(255,120,120)", "rgb(160,120,255)"];
const UPLOADS_AT_ONCE = 2;
const LOCAL_MAX_SIDE = 640; // camera and video frames analysed in the page, like the server's camera
const LOCAL_VIDEO_STEP = 0.2; // seconds between the video frames analysed in the page
const LOCAL_MAX_PIXELS = 40_000_000; // the server's default image limit

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "style") node.style.cssText = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child instanceof Node ? child : document.createTextNode(child));
  }
  return node;
}

const colourOf = (face, index) => COLOURS[(face.track_id ?? index) % COLOURS.length];
const percent = (p) => `${Math.round(p * 100)}%`;
const faceName = (face, index) => (face.track_id != null ? `#${face.track_id}` : `${index + 1}`);
const shortLabel = (face) => `${face.gender}, ${Math.round(face.age)}, ${face.race}`;

async function errorText(response) {
  try {
    const body = await response.json();
    return body.detail || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

// ---------- where to analyse ----------

// current: "server" or "browser"; serverUp: whether a faceattrs server answers /health.
const mode = { current: "server", serverUp: false, local: null };
const inBrowser = () => mode.current === "browser";

/** The in-page pipeline ({pipeline module, analyzer, video module}), loaded once on demand. */
function localPipeline() {
  if (!mode.local) {
    mode.local = Promise.all([import("./inbrowser/analyzer.js"), import("./inbrowser/video.js")])
      .then(async ([pipeline, video]) => ({ pipeline, video, analyzer: await pipeline.createAnalyzer() }))
      .catch((error) => {
        mode.local = null;
        throw new Error(`the in-browser models could not be loaded: ${error.message || error}`);
      });
  }
  return mode.local;
}

function setMode(name) {
  mode.current = name;
  $(`mode-${name}`).checked = true;
  $("privacy-server").hidden = name !== "server";
  $("privacy-browser").hidden = name !== "browser";
  $("camera-status").textContent = name === "server"
    ? "The camera picture is sent to this server frame by frame, analysed and discarded."
    : "The camera picture is analysed inside this page; nothing is uploaded.";
  document.body.dataset.mode = name;
  if (camera.running) stopCamera();
  if (name === "browser") localPipeline().catch(() => {}); // start loading the models now
}

// ---------- drawing ----------

/** Draw boxes and labels of `faces` (in `srcW` x `srcH` pixels) onto a 2D context;
 * sizes are in screen pixels, whatever the canvas resolution. A label that would cover
 * another goes below its box, else shrinks to the face number (the list has the rest). */
function drawFaces(ctx, faces, srcW, srcH) {
  const { width, height } = ctx.canvas;
  const sx = width / srcW;
  const sy = height / srcH;
  const shown = ctx.canvas.getBoundingClientRect().width;
  const unit = shown > 0 ? width / shown : Math.max(width, height) / 640;
  const font = Math.round(13 * unit);
  const pad = Math.round(font * 0.3);
  const th = font + 2 * pad;
  ctx.lineWidth = Math.max(2, 2.2 * unit);
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const boxes = faces.map(({ box: [x1, y1, x2, y2] }) => [x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy]);
  boxes.forEach(([x, y, w, h], index) => {
    ctx.strokeStyle = colourOf(faces[index], index);
    ctx.strokeRect(x, y, w, h);
  });
  const placed = [];
  const free = (r) => placed.every((q) => r[0] >= q[0] + q[2] || q[0] >= r[0] + r[2] || r[1] >= q[1] + q[3] || q[1] >= r[1] + r[3]);
  faces.forEach((face, index) => {
    const [x, y, w, h] = boxes[index];
    const rect = (text, below) => {
      const tw = ctx.measureText(text).width + 2 * pad;
      const up = below ? y + h : y - th;
      const ty = up < 0 ? y + h : up + th > height ? y - th : up;
      return [Math.min(Math.max(0, x - ctx.lineWidth / 2), width - tw), ty, tw, th, text];
    };
    const full = `${faceName(face, index)}  ${shortLabel(face)}`;
    const name = faceName(face, index);
    const tries = [rect(full, false), rect(full, true), rect(name, false), rect(name, true)];
    const label = tries.find(free) || tries[2];
    placed.push(label);
    const [tx, ty, tw, , text] = label;
    ctx.fillStyle = colourOf(face, index);
    ctx.fillRect(tx, ty, tw, th);
    ctx.fillStyle = "#111";
    ctx.fillText(text, tx + pad, ty + pad);
  });
}

function probGroup(title, probs, colour) {
  const rows = [el("span", { className: "group" }, title)];
  const sorted = Object.entries(probs).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of sorted) {
    rows.push(el("span", {}, label),
      el("span", { className: "bar", style: `--c:${colour}` }, el("i", { style: `width:${(p * 100).toFixed(1)}%` })),
      el("span", { className: "pct" }, percent(p)));
  }
  return el("div", { className: "prob-group" }, rows);
}

/** The list item of one face: label, age interval and probability bars. */
function faceItem(face, index, withBars = true) {
  const colour = colourOf(face, index);
  const [low, high] = face.age_interval;
  const head = el("div", { className: "face-head" },
    `${faceName(face, index)}  ${shortLabel(face)} `,
    el("small", {}, `age ${Math.round(low)}–${Math.round(high)}`));
  const item = el("li", { className: "face", style: `--c:${colour}` }, head);
  if (withBars) {
    item.append(el("div", { className: "probs" },
      probGroup("perceived gender", face.gender_probs, colour),
      probGroup("perceived race", face.race_probs, colour)));
  }
  return item;
}

// ---------- images ----------

const imageQueue = [];
let imagesRunning = 0;

function addImages(files) {
  for (const file of files) {
    const canvas = el("canvas", { width: 4, height: 3 });
    const picture = el("div", { className: "picture" }, canvas);
    const title = el("div", { className: "card-title" }, el("span", {}, file.name), el("span", {}, ""));
    const body = el("div", { className: "card-body" }, title, el("p", { className: "none" }, "Analysing…"));
    const card = el("article", { className: "card pending", "data-state": "pending" }, picture, body);
    $("image-results").prepend(card);
    imageQueue.push({ file, card, canvas, picture, title, body });
  }
  pumpImages();
}

function pumpImages() {
  while (imagesRunning < UPLOADS_AT_ONCE && imageQueue.length) {
    imagesRunning += 1;
    analyseImage(imageQueue.shift()).finally(() => {
      imagesRunning -= 1;
      pumpImages();
    });
  }
}

function loadPicture(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => resolve({ img, url });
    img.onerror = () => { URL.revokeObjectURL(url); resolve({ img: null, url: null }); };
    img.src = url;
  });
}

async function serverImageResult(file) {
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await fetch(`${API}/images`, { method: "POST", body: form });
  if (!response.ok) throw new Error(await errorText(response));
  return (await response.json()).images[0];
}

/** Decode and analyse an image inside the page (EXIF orientation applied, no colour
 * conversion, transparency on white: as faceattrs.media reads it). */
async function localImageResult(file) {
  const { pipeline, analyzer } = await localPipeline();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", imageOrientation: "from-image" });
  } catch {
    throw new Error(`${file.name}: not an image this browser can decode`);
  }
  try {
    if (bitmap.width * bitmap.height > LOCAL_MAX_PIXELS) {
      throw new Error(`${file.name}: ${bitmap.width}x${bitmap.height} pixels is over the limit of ${LOCAL_MAX_PIXELS.toLocaleString("en")}`);
    }
    return await analyzer.analyze(pipeline.toImageData(bitmap, bitmap.width, bitmap.height));
  } finally {
    bitmap.close();
  }
}

async function analyseImage({ file, card, canvas, picture, title, body }) {
  const where = mode.current;
  let result;
  try {
    result = await (where === "browser" ? localImageResult(file) : serverImageResult(file));
  } catch (error) {
    card.className = "card error";
    card.dataset.state = "error";
    picture.remove();
    const message = String(error.message || error);
    body.lastChild.replaceWith(el("p", {}, message.replace(`${file.name}: `, "")));
    return;
  }
  const { img, url } = await loadPicture(file);
  card.className = "card";
  const scale = Math.min(1, 1600 / Math.max(result.width, result.height));
  canvas.width = Math.round(result.width * scale);
  canvas.height = Math.round(result.height * scale);
  const ctx = canvas.getContext("2d");
  if (img) {
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    URL.revokeObjectURL(url);
  } else {
    ctx.fillStyle = "#333";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  drawFaces(ctx, result.faces, result.width, result.height);
  const n = result.faces.length;
  const timing = result.ms ? ` · in this browser, ${Math.round(result.ms.total)} ms` : "";
  title.lastChild.textContent = `${n} face${n === 1 ? "" : "s"} · ${result.width}×${result.height}${timing}`;
  const list = n
    ? el("ul", { className: "faces" }, result.faces.map((face, i) => faceItem(face, i)))
    : el("p", { className: "none" }, "No face found.");
  body.lastChild.replaceWith(list);
  card.dataset.state = "done";
  card.dataset.faces = String(n);
  card.dataset.mode = where;
  card.result = result; // for scripts and tests: the faces as analysed
}

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

// ---------- camera ----------

// grab: the canvas of the frame in flight (one at a time); lag: smoothed reply delay (ms);
// held: whether the overlay shows the analysed frame rather than the live picture.
// local: the in-page pipeline and tracker when analysing in this browser (no WebSocket).
const camera = { running: false, stream: null, ws: null, grab: null, times: [], sentAt: 0, lag: null, held: false, local: null, frame: 0 };

function setCameraStatus(text, isError = false) {
  $("camera-status").textContent = text;
  $("camera-status").classList.toggle("error", isError);
}

async function startCamera() {
  if (camera.running) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setCameraStatus("This browser allows the camera only on secure pages: open this page on 127.0.0.1 (localhost) or over HTTPS.", true);
    return;
  }
  $("camera-start").disabled = true;
  camera.local = null;
  if (inBrowser()) {
    try {
      setCameraStatus("Loading the models…");
      const local = await localPipeline();
      camera.local = { ...local, tracker: new local.video.FaceTracker() };
    } catch (error) {
      $("camera-start").disabled = false;
      setCameraStatus(String(error.message || error), true);
      return;
    }
  }
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (error) {
    $("camera-start").disabled = false;
    setCameraStatus(`No camera: ${error.message || error.name}`, true);
    return;
  }
  const video = $("camera-video");
  video.srcObject = camera.stream;
  await video.play().catch(() => {});
  camera.running = true;
  camera.times = [];
  camera.lag = null;
  camera.held = false;
  camera.grab = document.createElement("canvas");
  $("camera-stage").hidden = false;
  $("camera-stop").disabled = false;
  camera.frame = 0;
  if (camera.local) {
    setCameraStatus("Live, in this browser: frames are analysed inside this page; nothing is uploaded.");
    analyseCameraFrame();
    return;
  }
  setCameraStatus("Connecting…");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${location.pathname.replace(/[^/]*$/, "")}${API}/stream`);
  ws.binaryType = "arraybuffer";
  camera.ws = ws;
  ws.onopen = () => { setCameraStatus("Live: frames are analysed and discarded."); sendFrame(); };
  ws.onmessage = (event) => onCameraReply(JSON.parse(event.data));
  ws.onclose = () => { if (camera.running) { stopCamera(); setCameraStatus("The server closed the connection.", true); } };
}

/** Copy the current camera picture (at most 640 px wide) into camera.grab. */
function grabFrame(video) {
  const scale = Math.min(1, 640 / video.videoWidth);
  const grab = camera.grab;
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  const ctx = grab.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, grab.width, grab.height);
  return ctx;
}

/** In-browser camera: analyse the current picture in the page, then the next one. */
async function analyseCameraFrame() {
  const video = $("camera-video");
  const local = camera.local;
  if (!camera.running || !local) return;
  if (!video.videoWidth) { setTimeout(analyseCameraFrame, 50); return; }
  const ctx = grabFrame(video);
  camera.sentAt = performance.now();
  let reply;
  try {
    const result = await local.analyzer.analyze(ctx.getImageData(0, 0, camera.grab.width, camera.grab.height));
    const faces = local.tracker.update(result.faces, camera.sentAt / 1000);
    reply = { frame: camera.frame, width: result.width, height: result.height, faces, ms: result.ms.total };
  } catch (error) {
    reply = { frame: camera.frame, error: "internal_error", detail: String(error.message || error) };
  }
  camera.frame += 1;
  if (camera.running && camera.local === local) onCameraReply(reply);
}

function sendFrame() {
  const video = $("camera-video");
  if (!camera.running || camera.ws.readyState !== WebSocket.OPEN) return;
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  const grab = camera.grab;
  grabFrame(video);
  grab.toBlob((blob) => {
    if (blob && camera.running && camera.ws.readyState === WebSocket.OPEN) {
      camera.sentAt = performance.now();
      camera.ws.send(blob);
    }
  }, "image/jpeg", 0.8);
}

function onCameraReply(reply) {
  if (!camera.running) return;
  if (reply.error && reply.frame == null) {
    setCameraStatus(`Error: ${reply.detail}`, true);
    return;
  }
  const now = performance.now();
  camera.times.push(now);
  if (camera.times.length > 10) camera.times.shift();
  // When replies lag the live picture, show the analysed frame itself so boxes match.
  camera.lag = camera.lag == null ? now - camera.sentAt : 0.8 * camera.lag + 0.2 * (now - camera.sentAt);
  camera.held = camera.held ? camera.lag > 150 : camera.lag > 250;
  const span = (camera.times[camera.times.length - 1] - camera.times[0]) / 1000;
  const fps = span > 0 ? `${((camera.times.length - 1) / span).toFixed(1)} fps` : "– fps";
  const video = $("camera-video");
  const overlay = $("camera-overlay");
  overlay.width = video.videoWidth || reply.width || 640;
  overlay.height = video.videoHeight || reply.height || 480;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (camera.held) ctx.drawImage(camera.grab, 0, 0, overlay.width, overlay.height);
  const faces = reply.faces || [];
  if (!reply.error) drawFaces(ctx, faces, reply.width, reply.height);
  const held = camera.held ? " · showing analysed frames" : "";
  const where = camera.local ? "in browser" : "server";
  $("camera-fps").textContent = `${fps} · ${where} ${Math.round(reply.ms ?? 0)} ms/frame${held}`;
  $("camera-stage").dataset.ms = String(reply.ms ?? "");
  $("camera-stage").dataset.held = String(camera.held);
  $("camera-stage").dataset.frames = String(reply.frame + 1);
  $("camera-stage").dataset.faces = String(faces.length);
  $("camera-faces").replaceChildren(...faces.map((face, i) => faceItem(face, i, false)));
  if (camera.local) setTimeout(analyseCameraFrame, 0);
  else sendFrame();
}

function stopCamera() {
  camera.running = false;
  camera.local = null;
  if (camera.ws) camera.ws.close();
  if (camera.stream) camera.stream.getTracks().forEach((track) => track.stop());
  camera.ws = null;
  camera.stream = null;
  $("camera-video").srcObject = null;
  const overlay = $("camera-overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  $("camera-stage").hidden = true;
  $("camera-faces").replaceChildren();
  $("camera-fps").innerHTML = "&nbsp;";
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  setCameraStatus("Camera stopped and released.");
}

// ---------- page ----------

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name !== "camera" && camera.running) stopCamera();
}

function dropZone(zoneId, inputId, onFiles) {
  const zone = $(zoneId);
  const input = $(inputId);
  input.addEventListener("change", () => { onFiles([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

const megabytes = (n) => `${Math.round(n / 2 ** 20)} MB`;

/** No faceattrs server behind the page (a static site): offer only the in-browser mode. */
function staticSite() {
  mode.serverUp = false;
  document.body.dataset.server = "none";
  $("mode-server").disabled = true;
  $("mode-server").closest("label").title = "no faceattrs server answers here (static site)";
  $("server-links").hidden = true;
  $("footer-where").textContent = "static site: everything is analysed in this browser; nothing is uploaded";
  $("version").textContent = "faceattrs (in-browser)";
  setMode("browser");
}

async function showLimits() {
  let health;
  try {
    health = await (await fetch("health", { cache: "no-store" })).json();
    if (health.status !== "ok") throw new Error("not a faceattrs server");
  } catch {
    staticSite();
    return;
  }
  mode.serverUp = true;
  document.body.dataset.server = "up";
  try {
    const limits = health.limits;
    $("version").textContent = `faceattrs ${health.version}`;
    $("ttl-minutes").textContent = String(Math.round(limits.job_ttl_s / 60));
    $("image-hint").textContent += ` · up to ${limits.max_images} at once, ${megabytes(limits.max_upload_bytes)}, ${Math.round(limits.max_pixels / 1e6)} megapixels each`;
    $("video-hint").textContent += ` · up to ${megabytes(limits.max_upload_bytes)} and ${Math.round(limits.max_video_seconds)} s`;
  } catch {
    /* the page works without the hints */
  }
}

function init() {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
  }
  dropZone("image-drop", "image-input", (files) => addImages(files));
  dropZone("video-drop", "video-input", (files) => files.length && (inBrowser() ? analyseVideoLocally(files[0]) : analyseVideo(files[0])));
  $("video-cancel").addEventListener("click", () => {
    forgetVideoJob();
    $("video-cancel").disabled = true;
    setVideoStatus("Cancelled; the upload and any results were deleted.");
  });
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  for (const input of document.querySelectorAll('input[name="mode"]')) {
    input.addEventListener("change", () => input.checked && setMode(input.value));
  }
  window.addEventListener("pagehide", () => { forgetVideoJob(true); if (camera.running) stopCamera(); });
  showLimits();
}

init();
