// faceattrs web page, live camera: frames sent to the server over a WebSocket, or
// analysed inside the page. Loaded before app.js, which holds the shared helpers ($, el,
// faceItem, the analysis mode) these functions use when called (drawFaces: labels.js).
"use strict";
// ---------- camera ----------

// grab: the canvas of the frame in flight (one at a time); lag: smoothed reply delay (ms);
// held: whether the overlay shows the analysed frame rather than the live picture.
// local: the in-page pipeline and its LiveCamera (inbrowser/live.js) when analysing in this
// browser (no WebSocket).
const camera = { running: false, stream: null, ws: null, grab: null, times: [], sentAt: 0, lag: null, held: false, local: null, frame: 0, listedAt: 0, listed: "" };
// the faces list under the picture is rebuilt at most this often (ms), or when faces come or go
const LIST_EVERY_MS = 250;

/** Run `fn` as a new task at once: unlike setTimeout(fn, 0), not held back 4 ms when chained
 * (the browser still paints between tasks). */
const nextTask = (() => {
  const channel = new MessageChannel();
  const queue = [];
  channel.port1.onmessage = () => queue.shift()?.();
  return (fn) => { queue.push(fn); channel.port2.postMessage(null); };
})();

function setCameraStatus(text, isError = false) {
  $("camera-status").textContent = text;
  $("camera-status").classList.toggle("error", isError);
}

async function startCamera() {
  if (camera.running) return;
  const hadFocus = document.activeElement === $("camera-start");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setCameraStatus("This browser allows the camera only on secure pages: open this page on 127.0.0.1 (localhost) or over HTTPS.", true);
    return;
  }
  $("camera-start").disabled = true;
  camera.local = null;
  if (inBrowser()) {
    try {
      setCameraStatus("Loading the models…");
      const [local, { LiveCamera, HeadsWorker }] = await Promise.all([localPipeline(), import("./inbrowser/live.js")]);
      camera.local = { ...local, live: new LiveCamera(local.analyzer) };
      useWorker(camera.local.live, HeadsWorker);
    } catch (error) {
      $("camera-start").disabled = false;
      if (hadFocus) $("camera-start").focus();
      setCameraStatus(String(error.message || error), true);
      return;
    }
  }
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (error) {
    $("camera-start").disabled = false;
    if (hadFocus) $("camera-start").focus();
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
  // the start button is disabled now: keep the keyboard focus on a control, not the body
  if (hadFocus || document.activeElement === document.body) $("camera-stop").focus();
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

/** Load the face-embedding model in the background (11 MB, once; then the browser's cache)
 * and join the camera's tracks into persons from then on; without it, tracks only. */
function joinPersons(live) {
  import("./inbrowser/embedding.js")
    .then(({ loadEmbeddingModel }) => loadEmbeddingModel())
    .then((embedder) => live.usePersons(embedder))
    .catch((error) => console.warn(`camera: persons not identified (${error.message || error})`));
}

/** From when its worker is ready, `live` describes known tracks' faces there while the page
 * detects the next frame (two cores at work instead of one), and joins tracks into persons
 * with the embeddings computed there; without the worker, both on the page. */
function useWorker(live, HeadsWorker) {
  HeadsWorker.start()
    .then(async (heads) => {
      if (camera.local?.live !== live) { heads.terminate(); return; } // the camera stopped
      live.heads = heads;
      const embedder = await heads.embedder();
      if (camera.local?.live === live) live.usePersons(embedder);
    })
    .catch((error) => {
      const what = live.heads ? "embedded" : "described and embedded";
      console.warn(`camera: faces ${what} in the page (${error.message || error})`);
      if (camera.local?.live === live && !live.persons) joinPersons(live);
    });
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
    const result = await local.live.frame(ctx.getImageData(0, 0, camera.grab.width, camera.grab.height), camera.sentAt / 1000);
    reply = { frame: camera.frame, width: result.width, height: result.height, faces: result.faces, ms: result.ms.total };
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
  // resize only on a change: setting a canvas's size, even to the same value, reallocates it
  const width = video.videoWidth || reply.width || 640;
  const height = video.videoHeight || reply.height || 480;
  if (overlay.width !== width) overlay.width = width;
  if (overlay.height !== height) overlay.height = height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (camera.held) ctx.drawImage(camera.grab, 0, 0, overlay.width, overlay.height);
  const faces = reply.faces || [];
  for (const face of faces) { // persons across tracks when the stream identifies them
    if (face.person_id != null) face.name = `#${face.person_id}`;
    else if (face.person_id === null) face.name = `track ${face.track_id}`; // not yet known
  }
  if (!reply.error) drawFaces(ctx, faces, reply.width, reply.height);
  const held = camera.held ? " · showing analysed frames" : "";
  const where = camera.local ? "in browser" : "server";
  $("camera-fps").textContent = `${fps} · ${where} ${Math.round(reply.ms ?? 0)} ms/frame${held}`;
  $("camera-stage").dataset.ms = String(reply.ms ?? "");
  $("camera-stage").dataset.held = String(camera.held);
  $("camera-stage").dataset.frames = String(reply.frame + 1);
  $("camera-stage").dataset.faces = String(faces.length);
  const ids = faces.map((face) => face.track_id).join();
  if (ids !== camera.listed || now - camera.listedAt >= LIST_EVERY_MS) {
    $("camera-faces").replaceChildren(...faces.map((face, i) => faceItem(face, i, false)));
    camera.listed = ids;
    camera.listedAt = now;
  }
  if (camera.local) nextTask(analyseCameraFrame);
  else sendFrame();
}

function stopCamera() {
  const hadFocus = document.activeElement === $("camera-stop");
  camera.running = false;
  camera.local?.live.heads?.terminate();
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
  camera.listed = "";
  $("camera-fps").innerHTML = "&nbsp;";
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  if (hadFocus) $("camera-start").focus();
  setCameraStatus("Camera stopped and released.");
}
