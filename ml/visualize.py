"""PNG renderings for the UI: keypoint matches and CAM heat maps (OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np

from ml.keypoints import MatchResult

__all__ = ["draw_matches", "heatmap_overlay"]

_MAX_LINES = 150  # more lines only hide the pictures
_GAP = 8  # pixels between the two pictures


def _rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {img.shape}")


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - PNG encoding of uint8 RGB does not fail
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _fit(img: np.ndarray, height: int) -> tuple[np.ndarray, float]:
    scale = height / img.shape[0]
    if scale == 1.0:
        return img, 1.0
    width = max(1, round(img.shape[1] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interp), scale


def _frame_scale(frame: tuple[int, int], shape: tuple[int, ...], display: float) -> np.ndarray:
    """Factor from keypoint-frame coordinates to display pixels (x, y).

    Keypoints may come from a downscaled frame (``max_side``), so each axis is
    scaled by image size / frame size before the display scaling.
    """
    fw, fh = frame
    if fw <= 0 or fh <= 0:
        return np.array([display, display])
    return np.array([shape[1] / fw * display, shape[0] / fh * display])


def _outline(panel: np.ndarray, h: np.ndarray, src_size: tuple[int, int], scale: np.ndarray) -> None:
    """Draw the ``src_size`` frame's outline mapped through ``h`` onto ``panel``."""
    w, hgt = src_size
    corners = np.array([[[0, 0]], [[w, 0]], [[w, hgt]], [[0, hgt]]], np.float64)
    outline = cv2.perspectiveTransform(corners, h).reshape(-1, 2) * scale
    # Far-away corners would overflow int32; cv2 clips to the panel anyway.
    if np.all(np.isfinite(outline)) and np.abs(outline).max() < 1e6:
        cv2.polylines(panel, [np.round(outline).astype(np.int32)], True, (255, 140, 0), 2, cv2.LINE_AA)


def draw_matches(query_rgb: np.ndarray, cand_rgb: np.ndarray, match: MatchResult, *, max_height: int = 360) -> bytes:
    """Query (left) and candidate (right) side by side with inlier lines, as PNG bytes.

    Each picture's outline projected through the homography is drawn on the
    other one (where the query sits in the candidate and vice versa).  Points
    are mapped from the keypoint frames recorded in ``match`` to the given
    images, whatever their sizes.
    """
    if max_height < 16:
        raise ValueError(f"max_height must be >= 16, got {max_height}")
    q_img, c_img = _rgb(query_rgb), _rgb(cand_rgb)
    height = min(max_height, max(q_img.shape[0], c_img.shape[0]))
    q_disp, q_s = _fit(q_img, height)
    c_disp, c_s = _fit(c_img, height)
    q_disp, c_disp = q_disp.copy(), c_disp.copy()  # drawn on below; never the caller's arrays
    q_scale = _frame_scale(match.query_size, q_img.shape, q_s)
    c_scale = _frame_scale(match.candidate_size, c_img.shape, c_s)
    if match.homography is not None and match.query_size[0] > 0 and match.candidate_size[0] > 0:
        # Each picture's outline as seen in the other one, drawn on (and so
        # clipped to) that picture's own panel.
        _outline(c_disp, match.homography, match.query_size, c_scale)
        _outline(q_disp, np.linalg.inv(match.homography), match.candidate_size, q_scale)

    top = 24  # caption band
    canvas = np.full((height + top, q_disp.shape[1] + _GAP + c_disp.shape[1], 3), 255, np.uint8)
    canvas[top:, : q_disp.shape[1]] = q_disp
    x_off = q_disp.shape[1] + _GAP
    canvas[top:, x_off:] = c_disp
    colour = (230, 0, 200) if match.mirrored else (0, 200, 0)
    pairs = np.asarray(match.pairs, np.float64).reshape(-1, 4)
    if len(pairs) > _MAX_LINES:  # evenly spaced subset, deterministic
        pairs = pairs[np.linspace(0, len(pairs) - 1, _MAX_LINES).astype(int)]
    for qx, qy, cx, cy in pairs:
        p = (round(qx * q_scale[0]), round(qy * q_scale[1]) + top)
        c = (round(cx * c_scale[0]) + x_off, round(cy * c_scale[1]) + top)
        cv2.line(canvas, p, c, colour, 1, cv2.LINE_AA)
        cv2.circle(canvas, p, 2, colour, -1, cv2.LINE_AA)
        cv2.circle(canvas, c, 2, colour, -1, cv2.LINE_AA)
    caption = f"{match.inliers} inliers / {match.good_matches} matches" + (" (mirrored)" if match.mirrored else "")
    cv2.putText(canvas, caption, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return png_bytes(canvas)


def heatmap_overlay(rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> bytes:
    """``cam`` (h, w) in [0, 1] as a JET colour map blended over ``rgb``, as PNG bytes."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    img = _rgb(rgb)
    heat = np.asarray(cam, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"cam must be a non-empty 2-D array, got shape {heat.shape}")
    heat = np.clip(np.nan_to_num(heat, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    # Bilinear keeps the map within [0, 1] (bicubic would overshoot).
    heat = cv2.resize(heat, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)  # BGR
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    blended = cv2.addWeighted(img, 1.0 - alpha, coloured, alpha, 0.0)
    return png_bytes(blended)
