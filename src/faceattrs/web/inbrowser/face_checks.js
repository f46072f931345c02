// The detector's second looks in the page, mirroring faceattrs/pipeline/face_checks.py:
// when the short-range close-up pass runs (needsCloseup) and how the image sits on its
// input (closeupLayout), the crop the check shows a model around a face (checkLayout), and
// the faces both passes found (bothFound), which skip the check. FaceDetector
// (detection.js) runs the passes and the check.

import { iou } from "./detections.js";
import { roundHalfEven } from "./detector_input.js";

// face_checks.py
const CLOSEUP_FACTOR = 0.6;
const CLOSEUP_SHARE = 0.3;
export const CONFIDENT = 0.75;
export const CLOSEUP_THRESHOLD = 0.5;
export const CHECK_MARGINS = { short: 2.2, full: 3.0 };
export const CHECK_THRESHOLD = 0.5;
export const AGREE_IOU = 0.5;

/** face_checks.needs_closeup: no face scoring CONFIDENT, or one of CLOSEUP_SHARE of the short side. */
export function needsCloseup(faces, height, width) {
  if (!faces.length || Math.max(...faces.map((f) => f.score)) < CONFIDENT) return true;
  const side = Math.max(...faces.map(({ xyxy: b }) => Math.max(b[2] - b[0], b[3] - b[1])));
  return side >= CLOSEUP_SHARE * Math.min(height, width);
}

/** face_checks.closeup_layout: [scale, width, height, x0, y0] of the image centred on a side x side canvas. */
export function closeupLayout(height, width, side) {
  const scale = (CLOSEUP_FACTOR * side) / Math.max(height, width);
  const w = Math.max(1, roundHalfEven(width * scale));
  const h = Math.max(1, roundHalfEven(height * scale));
  return [scale, w, h, Math.floor((side - w) / 2), Math.floor((side - h) / 2)];
}

/** face_checks.check_layout: the square of margin x the box's side around its centre. */
export function checkLayout(box, margin, height, width, side) {
  const [x0, y0, x1, y1] = box;
  const size = Math.max(x1 - x0, y1 - y0, 1.0) * margin;
  const left = (x0 + x1) / 2 - size / 2;
  const top = (y0 + y1) / 2 - size / 2;
  const rx0 = Math.max(0, Math.floor(left));
  const ry0 = Math.max(0, Math.floor(top));
  const rx1 = Math.max(Math.min(width, Math.ceil(left + size)), rx0 + 1);
  const ry1 = Math.max(Math.min(height, Math.ceil(top + size)), ry0 + 1);
  const scale = side / size;
  const dx = Math.min(side - 1, Math.max(0, roundHalfEven((rx0 - left) * scale)));
  const dy = Math.min(side - 1, Math.max(0, roundHalfEven((ry0 - top) * scale)));
  const w = Math.max(1, Math.min(side - dx, roundHalfEven((rx1 - rx0) * scale)));
  const h = Math.max(1, Math.min(side - dy, roundHalfEven((ry1 - ry0) * scale)));
  return { region: [rx0, ry0, rx1, ry1], scale, w, h, dx, dy };
}

/** face_checks.both_found: the full-range passes and the close-up pass both found this box. */
export function bothFound(box, fullBoxes, closeupBoxes) {
  return fullBoxes.some((b) => iou(box, b) >= AGREE_IOU) && closeupBoxes.some((b) => iou(box, b) >= AGREE_IOU);
}
