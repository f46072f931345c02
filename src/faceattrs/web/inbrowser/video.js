// Video files in the page: scene-cut detection as faceattrs/video/session.py SceneCuts
// does it (a cut ends every track), and a video walker that seeks through a file in fixed
// steps, tracks the faces (tracking.js, as faceattrs/video/tracking.py) and keeps each
// person's best face crop. With `persons`, tracks are joined into persons by face
// embedding (persons.js, as faceattrs video --reid does): re-identification after leaving
// the view and across cuts.

import { PersonRegistry, summarizePersons } from "./persons.js";
import { FaceTracker } from "./tracking.js";

const THUMB_W = 64;
const THUMB_H = 36;

/** The 8x8x8 colour histogram of a 64x36 RGBA thumbnail (counts, 512 bins). */
export function colourHistogram(rgba) {
  const hist = new Float64Array(512);
  for (let i = 0; i < rgba.length; i += 4) hist[((rgba[i] >> 5) << 6) | ((rgba[i + 1] >> 5) << 3) | (rgba[i + 2] >> 5)] += 1;
  return hist;
}

/** OpenCV's HISTCMP_BHATTACHARYYA distance of two histograms. */
export function bhattacharyya(a, b) {
  let sa = 0;
  let sb = 0;
  let cross = 0;
  for (let i = 0; i < a.length; i += 1) {
    sa += a[i];
    sb += b[i];
    cross += Math.sqrt(a[i] * b[i]);
  }
  const norm = Math.sqrt(sa * sb);
  return norm > 0 ? Math.sqrt(Math.max(0, 1 - cross / norm)) : 0;
}

/** Hard cuts between consecutive frames (session.py SceneCuts): the Bhattacharyya distance
 * of the colour histograms of 64x36 thumbnails above `threshold`. */
export class SceneCuts {
  constructor(threshold = 0.18) {
    this.threshold = threshold;
    this.previous = null;
    this.canvas = null;
  }

  /** Whether the picture of `source` (video, canvas, image) starts a new shot. */
  isCut(source) {
    this.canvas ||= Object.assign(document.createElement("canvas"), { width: THUMB_W, height: THUMB_H });
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, 0, 0, THUMB_W, THUMB_H);
    return this.isCutThumb(ctx.getImageData(0, 0, THUMB_W, THUMB_H).data);
  }

  /** The same for a ready 64x36 RGBA thumbnail. */
  isCutThumb(rgba) {
    const hist = colourHistogram(rgba);
    const previous = this.previous;
    this.previous = hist;
    return previous !== null && bhattacharyya(previous, hist) > this.threshold;
  }
}

/** The smallest face worth finding in a video frame (process.py video_min_face): 20 px up
 * to 540p, then in proportion (40 px at 1080p). */
export function videoMinFace(width, height) {
  return Math.max(20, Math.round(Math.min(width, height) / 27));
}

// Video frames are analysed in the page at their own size, as `faceattrs video` does (the
// same faces and tracks on the same pixels; at 640 px the small faces of a crowd were lost),
// up to 1920 px on the long side (memory and time in the browser).
export const VIDEO_MAX_SIDE = 1920;

/** walkVideo's `analyse` step for a video file, as `faceattrs video` analyses a frame: at
 * its own size (at most `maxSide` px on the long side), the smallest face videoMinFace's.
 * `toImageData` is analyzer.js's (passed in, so that this module does not load the runtime). */
export function frameAnalyser(analyzer, toImageData, maxSide = VIDEO_MAX_SIDE) {
  return (video) => {
    const image = toImageData(video, video.videoWidth, video.videoHeight, maxSide);
    // as video/process.py default_analyzer: the video's smallest face, no edge border
    return analyzer.analyze(image, { minFace: videoMinFace(image.width, image.height), edgeMargin: 0 });
  };
}

// Seeking to a frame's own start time may show the frame before it (the time as a float
// falls just short of the frame's timestamp); a millisecond later is inside the frame at
// that time for any rate up to 1000 fps, so the page reads the frame Python reads there.
const SEEK_PAST_S = 0.001;

const seek = (video, time) => new Promise((resolve, reject) => {
  const done = () => { video.removeEventListener("seeked", done); video.removeEventListener("error", fail); resolve(); };
  const fail = () => { video.removeEventListener("seeked", done); reject(new Error("the browser cannot decode this video")); };
  video.addEventListener("seeked", done);
  video.addEventListener("error", fail);
  video.currentTime = time;
});

/** Load a video file into a (detached) video element; rejects when the browser cannot play it. */
export function openVideo(url) {
  return new Promise((resolve, reject) => {
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    video.onloadeddata = () => resolve(video);
    video.onerror = () => reject(new Error("this browser cannot decode the video (try MP4/H.264 or WebM)"));
    video.src = url;
  });
}

/** A square crop (`size` px) around a face's box (x1, y1, x2, y2 in `source` pixels),
 * as a data URL. */
export function faceCrop(source, [x1, y1, x2, y2], size = 96) {
  const side = 1.3 * Math.max(x2 - x1, y2 - y1);
  const canvas = Object.assign(document.createElement("canvas"), { width: size, height: size });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ddd";
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(source, (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2, side, side, 0, 0, size, size);
  return canvas.toDataURL("image/jpeg", 0.85);
}

/** The picture of a video element at its own size, as RGBA ImageData. */
function frameImage(video) {
  const { videoWidth: w, videoHeight: h } = video;
  const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

/** Load the face-embedding model for `persons` (null, with `error` set, when it fails). */
async function loadEmbedder(onModelProgress, state) {
  try {
    const { loadEmbeddingModel } = await import("./embedding.js");
    return await loadEmbeddingModel({ onProgress: onModelProgress });
  } catch (error) {
    state.error = `persons not identified: ${error.message || error}`;
    return null;
  }
}

/** Analyse a video every `step` seconds: frames [{time, faces, cut}] with track ids, the
 * per-track summary (each with `crop`, its best-detected face) and the scene cuts.
 * `analyse(video)` analyses the current frame; `job.cancelled` stops. With `persons`, the
 * face-embedding model is loaded first (`onModelProgress` follows its download) and a few
 * embeddings per track (from the full-size frame, as faceattrs video does) join tracks into
 * persons: faces and tracks get `person_id`, `persons` lists one entry per person (each
 * with the crop of their best face) and `embedded` counts the embeddings computed;
 * `personsError` says why not, if not. */
export async function walkVideo(video, analyse, {
  step = 0.2, onProgress = () => {}, job = {}, persons = false, onModelProgress = () => {},
} = {}) {
  const state = {};
  const embedder = persons ? await loadEmbedder(onModelProgress, state) : null;
  const registry = embedder ? new PersonRegistry({ threshold: embedder.threshold }) : null;
  const tracker = new FaceTracker({ maxGap: Math.max(1.0, 3 * step), minHits: 3 }); // tracking.py's
  const cuts = new SceneCuts();
  const best = new Map(); // track id -> {quality, crop}
  const frames = [];
  const duration = Number.isFinite(video.duration) ? video.duration : 0;
  for (let k = 0; k * step <= duration && !job.cancelled; k += 1) {
    const time = Math.round(k * step * 1e6) / 1e6; // no drift from adding up steps
    if (time > 0) await seek(video, time + SEEK_PAST_S);
    const cut = cuts.isCut(video);
    if (cut) tracker.cut();
    const result = await analyse(video);
    const faces = tracker.update(result.faces, time);
    const scale = video.videoWidth / result.width;
    for (const face of faces) {
      const [x1, y1, x2, y2] = face.box;
      const quality = face.score * (x2 - x1) * (y2 - y1);
      if (!(best.get(face.track_id)?.quality >= quality)) {
        best.set(face.track_id, { quality, crop: faceCrop(video, face.box.map((v) => v * scale)) });
      }
    }
    if (registry) {
      // persons.py judges and embeds faces in the frame's own pixels
      const full = faces.map((face) => ({
        ...face, box: face.box.map((v) => v * scale), keypoints: face.keypoints.map(([x, y]) => [x * scale, y * scale]),
      }));
      const wanted = registry.wanted(full, time);
      if (wanted.length) {
        const embeddings = await embedder.embed(frameImage(video), wanted.map((i) => full[i]));
        wanted.forEach((i, n) => registry.observe(full[i].track_id, embeddings[n], time, full[i]));
      }
    }
    frames.push({ time, width: result.width, height: result.height, faces, cut });
    onProgress(duration > 0 ? Math.min(1, time / duration) : 1, frames.length);
  }
  const tracks = tracker.summary().map((track) => ({ ...track, crop: best.get(track.track_id)?.crop }));
  const cutTimes = frames.filter((f) => f.cut).map((f) => f.time);
  if (!registry) return { frames, tracks, cuts: cutTimes, personsError: state.error };
  const personOf = registry.regroup();
  for (const frame of frames) {
    for (const face of frame.faces) if (personOf.has(face.track_id)) face.person_id = personOf.get(face.track_id);
  }
  for (const track of tracks) track.person_id = personOf.get(track.track_id) ?? null;
  const bestCrop = (ids) => ids.map((id) => best.get(id)).filter(Boolean)
    .reduce((a, b) => (a && a.quality >= b.quality ? a : b), null)?.crop;
  const people = summarizePersons(tracks, personOf).map((person) => ({ ...person, crop: bestCrop(person.tracks) }));
  return { frames, tracks, persons: people, cuts: cutTimes, embedded: registry.sampleCount };
}
