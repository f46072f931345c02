// faceattrs web page: images, a video and the live camera, analysed over the HTTP API
// or inside the page (inbrowser/, ONNX Runtime Web; nothing uploaded). Plain JS; boxes are
// drawn on canvases over the pictures (labels.js). Without a faceattrs server behind the
// page (a static site from `faceattrs export-web`) only the in-browser mode is offered.
"use strict";

const API = "api/v1";
const AGE_RANGE = "80% range"; // spec.py age_interval_coverage of the shipped models
const UPLOADS_AT_ONCE = 2;
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

const megabytes = (n) => `${Math.round(n / 2 ** 20)} MB`;

async function errorText(response) {
  try {
    const body = await response.json();
    return body.detail || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

// ---------- where to analyse ----------

// current: "server" or "browser"; serverUp: whether a faceattrs server answers /health;
// hints: the drop zones' hints per mode; loading: the model download's last progress text.
const mode = { current: "server", serverUp: false, local: null, hints: {}, loading: null };
const inBrowser = () => mode.current === "browser";

/** "Downloading models (19 MB)… 42%" while the in-browser runtime and models load. */
function showModelLoad({ received, total, from }) {
  const done = total > 0 && received >= total;
  const what = from === "cache" ? "Loading the models from this browser's cache" : `Downloading models${total ? ` (${megabytes(total)})` : ""}`;
  mode.loading = done ? null : `${what}… ${total ? percent(received / total) : ""}`.trim();
  $("model-load").hidden = done;
  $("model-load-text").textContent = mode.loading || "";
  $("model-load-progress").value = total ? received / total : 0;
  for (const note of document.querySelectorAll(".card.pending .none")) {
    note.textContent = mode.loading ? `${mode.loading} (once; then cached)` : "Analysing…";
  }
}

/** The in-page pipeline ({pipeline module, analyzer, video module}), loaded once on demand. */
function localPipeline() {
  if (!mode.local) {
    $("model-load").hidden = false;
    mode.local = Promise.all([import("./inbrowser/analyzer.js"), import("./inbrowser/video.js")])
      .then(async ([pipeline, video]) => {
        const analyzer = await pipeline.createAnalyzer({ onProgress: showModelLoad });
        $("model-load").hidden = true;
        mode.loading = null;
        const runsOn = analyzer.backend === "webgpu" ? "WebGPU (this device's GPU)" : plural(analyzer.threads, "WebAssembly thread");
        const unisolated = analyzer.backend === "wasm" && analyzer.threads === 1 && !crossOriginIsolated;
        $("footer-threads").textContent = ` · in-browser mode: ${runsOn}${unisolated ? " (this host sends no cross-origin isolation headers)" : ""}`;
        document.body.dataset.threads = String(analyzer.threads);
        document.body.dataset.backend = analyzer.backend;
        document.body.dataset.models = analyzer.modelsFrom;
        return { pipeline, video, analyzer };
      })
      .catch((error) => {
        mode.local = null;
        $("model-load").hidden = true;
        throw new Error(`the in-browser models could not be loaded: ${error.message || error}`);
      });
  }
  return mode.local;
}

const FOOTER = {
  server: "runs offline; no data leaves this server",
  browser: "analysed in this browser; nothing is uploaded",
};

function setMode(name) {
  mode.current = name;
  $(`mode-${name}`).checked = true;
  $("privacy-server").hidden = name !== "server";
  $("privacy-browser").hidden = name !== "browser";
  $("camera-status").textContent = name === "server"
    ? "The camera picture is sent to this server frame by frame, analysed and discarded."
    : "The camera picture is analysed inside this page; nothing is uploaded.";
  const hints = mode.hints[name];
  if (hints) {
    $("image-hint").textContent = hints.image;
    $("video-hint").textContent = hints.video;
  }
  if (mode.serverUp) $("footer-where").textContent = FOOTER[name];
  document.body.dataset.mode = name;
  if (camera.running) stopCamera();
  if (name === "browser") localPipeline().catch(() => {}); // start loading the models now
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

/** "age 27 (23–32, 80% range)". */
const ageText = (face) => `age ${Math.round(face.age)} (${Math.round(face.age_interval[0])}–${Math.round(face.age_interval[1])}, ${AGE_RANGE})`;

/** "female 92% · age 27 (23–32, 80% range) · white? 49% · happy 80%" (what was asked for). */
function headText(face) {
  const parts = [];
  if (face.gender_probs) parts.push(sure(face.gender, face.gender_probs[face.gender]));
  if (face.age != null) parts.push(ageText(face));
  if (face.race_probs) parts.push(sure(face.race, face.race_probs[face.race]));
  if (face.expression_probs) parts.push(sure(face.expression, face.expression_probs[face.expression]));
  return parts.join(" · ");
}

/** The list item of one face: label with probabilities, age range, detection score and
 * probability bars. */
function faceItem(face, index, withBars = true) {
  const colour = colourOf(face, index);
  const weak = isWeak(face);
  const head = el("div", { className: "face-head" },
    `${faceName(face, index)}  ${headText(face)} `,
    face.score != null ? el("small", { className: weak ? "weak-note" : "" },
      `detection score ${face.score.toFixed(2)}${weak ? " (weak: maybe not a face)" : ""}`) : null);
  const item = el("li", { className: `face${weak ? " weak" : ""}`, style: `--c:${colour}` }, head);
  if (withBars) {
    item.append(el("div", { className: "probs" },
      face.gender_probs ? probGroup("perceived gender", face.gender_probs, colour) : null,
      face.race_probs ? probGroup("perceived race", face.race_probs, colour) : null,
      face.expression_probs ? probGroup("facial expression", face.expression_probs, colour) : null));
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
    const waiting = inBrowser() && mode.loading ? `${mode.loading} (once; then cached)` : "Analysing…";
    const body = el("div", { className: "card-body" }, title, el("p", { className: "none" }, waiting));
    const card = el("article", { className: "card pending", "data-state": "pending" }, picture, body);
    enableFaceTips(canvas, picture);
    $("image-results").prepend(card);
    imageQueue.push({ file, card, canvas, picture, title, body });
  }
  showImageCount();
  pumpImages();
}

function showImageCount() {
  const n = $("image-results").children.length;
  $("image-bar").hidden = n === 0;
  $("image-count").textContent = plural(n, "result");
}

/** Remove every result (and images still waiting their turn). */
function clearImages() {
  imageQueue.length = 0;
  $("image-results").replaceChildren();
  showImageCount();
  $("image-input").focus();
}

function pumpImages() {
  const atOnce = inBrowser() ? UPLOADS_AT_ONCE : Math.min(UPLOADS_AT_ONCE, mode.maxBusy || UPLOADS_AT_ONCE);
  while (imagesRunning < atOnce && imageQueue.length) {
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

const BUSY_RETRIES = 20; // a busy server (429/503 with Retry-After) is asked again this often

/** The server's result for one image; while the server is busy (429/503) the request is
 * repeated after its Retry-After, with `onWait(text)` saying so. */
async function serverImageResult(file, onWait = () => {}) {
  for (let attempt = 0; ; attempt += 1) {
    const form = new FormData();
    form.append("files", file, file.name);
    const response = await fetch(`${API}/images`, { method: "POST", body: form });
    if (response.ok) return (await response.json()).images[0];
    if (![429, 503].includes(response.status) || attempt >= BUSY_RETRIES) throw new Error(await errorText(response));
    const seconds = Math.min(10, Math.max(0.5, Number(response.headers.get("retry-after")) || 1));
    onWait(`The server is busy; trying again in ${seconds} s…`);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    onWait("Analysing…");
  }
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
    const onWait = (text) => { body.lastChild.textContent = text; };
    result = await (where === "browser" ? localImageResult(file) : serverImageResult(file, onWait));
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
  title.lastChild.textContent = `${plural(n, "face")} · ${result.width}×${result.height}${timing}`;
  const list = n
    ? el("ul", { className: "faces" }, result.faces.map((face, i) => faceItem(face, i)))
    : el("p", { className: "none" }, "No face found.");
  body.lastChild.replaceWith(list);
  card.dataset.state = "done";
  card.dataset.faces = String(n);
  card.dataset.mode = where;
  card.result = result; // for scripts and tests: the faces as analysed
}

// ---------- page ----------

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name !== "camera" && camera.running) stopCamera();
}

/** Arrow keys, Home and End move between the tabs (and select them). */
function tabKeys(event) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (next == null) return;
  event.preventDefault();
  const tab = tabs[(next + tabs.length) % tabs.length];
  selectTab(tab.id.replace("tab-", ""));
  tab.focus();
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

/** No faceattrs server behind the page (a static site): offer only the in-browser mode. */
function staticSite() {
  mode.serverUp = false;
  document.body.dataset.server = "none";
  $("mode-server").disabled = true;
  $("mode-server").closest("label").title = "no faceattrs server answers here (static site)";
  $("server-links").hidden = true;
  $("footer-where").textContent = "static site: everything is analysed in this browser; nothing is uploaded";
  mode.hints.browser = browserHints();
  $("version").textContent = "faceattrs (in-browser)";
  setMode("browser");
}

/** The drop zones' hints in the in-browser mode: this page's own limits. */
function browserHints() {
  return {
    image: `JPEG, PNG, WebP, BMP or AVIF · analysed in this browser, up to ${LOCAL_MAX_PIXELS / 1e6} megapixels each`,
    video: `what this browser can play (MP4/H.264, WebM) · analysed in this browser, a frame every ${LOCAL_VIDEO_STEP} s`,
  };
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
    mode.maxBusy = limits.max_busy; // analyses the server runs at once (more get 429)
    mode.hints.server = {
      image: `${$("image-hint").textContent} · up to ${limits.max_images} at once, ${megabytes(limits.max_upload_bytes)}, ${Math.round(limits.max_pixels / 1e6)} megapixels each`,
      video: `${$("video-hint").textContent} · up to ${megabytes(limits.max_upload_bytes)} and ${Math.round(limits.max_video_seconds)} s`,
    };
  } catch {
    /* the page works without the server's hints */
  }
  mode.hints.browser = browserHints();
  setMode(mode.current);
}

function init() {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
  }
  document.querySelector('[role="tablist"]').addEventListener("keydown", tabKeys);
  $("image-clear").addEventListener("click", clearImages);
  dropZone("image-drop", "image-input", (files) => addImages(files));
  dropZone("video-drop", "video-input", (files) => files.length && (inBrowser() ? analyseVideoLocally(files[0]) : analyseVideo(files[0])));
  enableFaceTips($("camera-overlay"), $("camera-stage"));
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
