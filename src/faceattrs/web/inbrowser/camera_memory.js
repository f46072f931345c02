// The in-browser camera's fast path: what CameraMemory keeps between the frames of one
// camera. It has no Python twin: Python's camera (video/session.py VideoSession, the
// server's camera stream) runs the full detector on every analysed frame; this is a speed
// trade-off of the page's camera alone (README, "In-browser camera: a faster path").
// FaceDetector.detect (detection.js) takes one as `camera` and runs the region looks
// (regionPasses); live.js keeps one per camera.

import { iou } from "./detections.js";
import { AGREE_IOU } from "./face_checks.js";

// camera frames: a face's check verdict holds while it stays in view, this many frames
const RECHECK_FRAMES = 15;
// camera frames between full passes: the detector only on a square region around each
// face of the frame before (MediaPipe's face tracking looks the same way), REGION_SIDE px
// at the model's input; for a small face REGION_MARGIN x its side on the full-range model
// (at least REGION_SIDE image px: no upscaling), for a large one the check's layout on the
// short-range model (regionPasses); a face counts when its centre is within REGION_KEEP x
// the side of the region's centre. A full pass at least every FULL_EVERY frames finds new
// faces.
const FULL_EVERY = 4;
export const REGION_SIDE = 128;
export const REGION_MARGIN = 3.0;
export const REGION_KEEP = 0.3;

/** What the camera's fast path (`detect(image, {camera})`) keeps between the frames of one
 * camera. The fast path is a camera-only speed trade-off (README, "In-browser camera"; its
 * effect on the shared videos' frames: bench/bench_browser.py):
 * - a full pass is one full-range pass at the pyramid's finest level (the scale where a
 *   minFace face is minPx at the model input: 0.5 for 640x480 and 20 px), instead of that
 *   level and the coarse and native letterbox passes (faces above 128 px at that scale are
 *   left to the close-up pass);
 * - between full passes (at most `fullEvery` - 1 frames in a row, while the regions feed
 *   the model at most half a full pass's pixels: in crowds the looks lose more small faces),
 *   the model looks only at a region around each face of the frame before (`regions`),
 *   without the close-up pass, and nowhere when there was none: a new face shows at the
 *   next full pass;
 * - an unsure face overlapping (IoU >= AGREE_IOU) one the check judged in the last
 *   RECHECK_FRAMES frames keeps that verdict instead of being checked again. */
export class CameraMemory {
  /** `fullEvery`: a full pass at least every this many frames (1: every frame). */
  constructor({ fullEvery = FULL_EVERY } = {}) {
    this.fullEvery = fullEvery;
    this.verdicts = []; // [{xyxy, keep, age}]
    this.boxes = []; // the faces of the frame before
    this.size = "";
    this.sinceFull = 0; // frames since the last full pass
  }

  /** The face boxes to look around in a `width` x `height` frame whose full pass would
   * feed the model `fullPixels` pixels (none: look nowhere), or null for a full pass. */
  regions(width, height, fullPixels) {
    const size = `${width}x${height}`;
    const look = size === this.size && this.sinceFull + 1 < this.fullEvery
      && this.boxes.length * REGION_SIDE ** 2 <= fullPixels / 2;
    this.size = size;
    this.sinceFull = look ? this.sinceFull + 1 : 0;
    return look ? this.boxes : null;
  }

  /** After a frame: its faces, the regions of the next one. */
  saw(faces) {
    this.boxes = faces.map((f) => f.xyxy);
  }

  /** The verdict on a face at `xyxy` carried from an earlier frame, or null. */
  verdict(xyxy) {
    return this.verdicts.find((v) => iou(v.xyxy, xyxy) >= AGREE_IOU) ?? null;
  }

  /** After a frame: its verdicts (`used`: the earlier ones they reused), and the earlier
   * ones not reused, all a frame older; none older than RECHECK_FRAMES. */
  remember(verdicts, used) {
    const kept = this.verdicts.filter((v) => !used.includes(v)).concat(verdicts);
    this.verdicts = kept.map((v) => ({ ...v, age: v.age + 1 })).filter((v) => v.age < RECHECK_FRAMES);
  }
}
