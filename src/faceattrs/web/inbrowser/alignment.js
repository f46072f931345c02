// Face alignment in the page, mirroring faceattrs/alignment.py: a least-squares
// similarity (Umeyama) of the first four detector keypoints onto the spec's template in
// its crop_box, a bilinear warp with a black border (OpenCV warpAffine's float32
// arithmetic), supersampled at an integer factor and area-averaged down.

const NUM_ALIGN_POINTS = 4;
const MAX_SUPERSAMPLE = 8;

/** Least-squares similarity mapping src onto dst ([[x, y], ...], K >= 2): 2x3 rows.
 * In 2-D, Umeyama's rotation is the angle of (trace, skew) of the covariance. */
export function estimateTransform(src, dst) {
  const n = src.length;
  const mean = (pts) => [pts.reduce((s, p) => s + p[0], 0) / n, pts.reduce((s, p) => s + p[1], 0) / n];
  const [sx, sy] = mean(src);
  const [dx, dy] = mean(dst);
  let srcVar = 0;
  let c00 = 0;
  let c01 = 0;
  let c10 = 0;
  let c11 = 0;
  for (let i = 0; i < n; i += 1) {
    const ux = src[i][0] - sx;
    const uy = src[i][1] - sy;
    const vx = dst[i][0] - dx;
    const vy = dst[i][1] - dy;
    srcVar += ux * ux + uy * uy;
    c00 += vx * ux;
    c01 += vx * uy;
    c10 += vy * ux;
    c11 += vy * uy;
  }
  srcVar /= n;
  if (srcVar < 1e-12) throw new Error("source points coincide; cannot estimate a transform");
  const a = (c00 + c11) / n;
  const b = (c10 - c01) / n;
  const norm = Math.hypot(a, b);
  const cos = norm > 0 ? a / norm : 1;
  const sin = norm > 0 ? b / norm : 0;
  const scale = norm / srcVar;
  const m00 = scale * cos;
  const m01 = -scale * sin;
  const m10 = scale * sin;
  const m11 = scale * cos;
  return [
    [m00, m01, dx - (m00 * sx + m01 * sy)],
    [m10, m11, dy - (m10 * sx + m11 * sy)],
  ];
}

/** The template keypoints (4) in continuous pixels of the `size` px model crop. */
export function templatePoints(spec, size = spec.input_size) {
  const [x0, y0, x1, y1] = spec.crop_box;
  return spec.template.slice(0, NUM_ALIGN_POINTS).map(([fx, fy]) => [
    ((fx - x0) / (x1 - x0)) * size,
    ((fy - y0) / (y1 - y0)) * size,
  ]);
}

const f32 = Math.fround;
/** Round half to even (OpenCV's cvRound / v_round). */
const rint = (v) => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** Warp an RGBA image through `matrix` (continuous coordinates) into an RGB size x size
 * crop; outside the image is black. Like cv2.warpAffine + INTER_LINEAR + BORDER_CONSTANT
 * as OpenCV 4.11+ computes it: the map moved to pixel indices (alignment.py
 * _to_index_coords) and inverted in double precision, source coordinates and the bilinear
 * weights in float32 with fused multiply-adds, rounded half to even. */
function warp(image, matrix, size) {
  const [[a, b, c0], [d, e, f0]] = matrix;
  const c = c0 + ((a * 0.5 + b * 0.5) - 0.5);
  const f = f0 + ((d * 0.5 + e * 0.5) - 0.5);
  const det = a * e - b * d;
  const inv = det !== 0 ? 1 / det : 0;
  const m0 = e * inv;
  const m1 = -b * inv;
  const m3 = -d * inv;
  const m4 = a * inv;
  const m2 = -m0 * c - m1 * f;
  const m5 = -m3 * c - m4 * f;
  const m0f = f32(m0);
  const m3f = f32(m3);
  const src = image.data;
  const { width, height } = image;
  const out = new Uint8ClampedArray(size * size * 3);
  const at = (x, y, ch) => (x >= 0 && y >= 0 && x < width && y < height ? src[(y * width + x) * 4 + ch] : 0);
  for (let y = 0; y < size; y += 1) {
    const rowX = f32(y * m1 + m2);
    const rowY = f32(y * m4 + m5);
    for (let x = 0; x < size; x += 1) {
      const u = f32(m0f * x + rowX);
      const v = f32(m3f * x + rowY);
      const x0 = Math.floor(u);
      const y0 = Math.floor(v);
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue; // all black
      const fx = f32(u - x0);
      const fy = f32(v - y0);
      const o = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch += 1) {
        const p00 = at(x0, y0, ch);
        const p10 = at(x0, y0 + 1, ch);
        const top = f32(fx * (at(x0 + 1, y0, ch) - p00) + p00);
        const bottom = f32(fx * (at(x0 + 1, y0 + 1, ch) - p10) + p10);
        out[o + ch] = rint(f32(fy * (bottom - top) + top));
      }
    }
  }
  return out;
}

/** Average factor x factor blocks of an RGB crop (cv2.INTER_AREA at an integer factor:
 * halves rounded up at factor 2, to even otherwise, as OpenCV does). */
function shrink(rgb, big, factor) {
  const size = big / factor;
  const out = new Uint8ClampedArray(size * size * 3);
  const area = factor * factor;
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      for (let ch = 0; ch < 3; ch += 1) {
        let sum = 0;
        for (let j = 0; j < factor; j += 1) {
          const row = ((y * factor + j) * big + x * factor) * 3 + ch;
          for (let i = 0; i < factor; i += 1) sum += rgb[row + 3 * i];
        }
        out[(y * size + x) * 3 + ch] = factor === 2 ? (sum + 2) >> 2 : rint(sum / area);
      }
    }
  }
  return out;
}

/** One aligned RGB crop (Uint8ClampedArray, size x size x 3) per face's keypoints (flat). */
export function align(image, keypoints, spec) {
  const size = spec.input_size;
  const points = [];
  for (let k = 0; k < NUM_ALIGN_POINTS; k += 1) points.push([keypoints[2 * k], keypoints[2 * k + 1]]);
  const matrix = estimateTransform(points, templatePoints(spec, size));
  const scale = Math.sqrt(Math.abs(matrix[0][0] * matrix[1][1] - matrix[0][1] * matrix[1][0]));
  const factor = Math.min(Math.max(Math.ceil(1.0 / Math.max(scale, 1e-6)), 1), MAX_SUPERSAMPLE);
  const big = size * factor;
  const scaled = matrix.map((row) => row.map((v) => v * factor));
  const warped = warp(image, scaled, big);
  return factor > 1 ? shrink(warped, big, factor) : warped;
}
