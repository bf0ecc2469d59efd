"""ORB keypoints, FLANN LSH matching and RANSAC geometric verification.

Framework-free (numpy + OpenCV only; no torch, no Django) so that it runs in
the web process and in workers alike.  Modelled on OpenCV's
``samples/python/find_obj.py``: ORB is matched with a FLANN LSH index, Lowe's
ratio test (0.75) filters ambiguous matches and a RANSAC homography (only with
>= 4 matches) counts the inliers, which is the score the rules in
:mod:`ml.rules` use.

Life cycle:

* index time: :func:`orb_keypoints` per collection image, stored with
  :meth:`Keypoints.to_bytes` (a small versioned header plus raw arrays);
* query time: :meth:`QueryMatcher.from_image` computes ORB for the query and
  its horizontal mirror and builds the LSH indexes ONCE; each shortlisted
  candidate's stored descriptors are then searched against them
  (:meth:`QueryMatcher.match`): a k=2 search, in stages that stop early for
  unrelated candidates, the mirror only when the normal orientation is not
  conclusive, and a RANSAC fit only when there is enough evidence.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np

__all__ = [
    "DESCRIPTOR_BYTES",
    "FLANN_INDEX_LSH",
    "LSH_INDEX_PARAMS",
    "Keypoints",
    "LshMatcher",
    "MatchResult",
    "QueryMatcher",
    "coverage",
    "orb_keypoints",
]

FLANN_INDEX_LSH = 6
# The find_obj.py LSH parameters: 6 hash tables of 12-bit keys, probing
# neighbouring buckets (1 bit flipped) too.
LSH_INDEX_PARAMS: dict[str, int] = {
    "algorithm": FLANN_INDEX_LSH,
    "table_number": 6,
    "key_size": 12,
    "multi_probe_level": 1,
}
# LSH picks its hash bits with OpenCV's global RNG; seeding it before every
# build makes verification (and therefore verdicts) reproducible.
_LSH_SEED = 0x5EED
DESCRIPTOR_BYTES = 32  # ORB: 256-bit binary descriptors
_GRID = 4  # cells per side for the stored keypoint order
# Early-stop stages (prefix of candidate descriptors, ratio-test matches needed
# to go on), calibrated on the WGA sample with 1000-feature keypoints; see
# QueryMatcher for what they cost and save.
Gates = tuple[tuple[int, int], ...]
DEFAULT_GATES: Gates = ((150, 3), (300, 8))
RATIO = 0.75  # Lowe's ratio test, as in find_obj.py
RANSAC_REPROJ_PX = 5.0
MIN_HOMOGRAPHY_MATCHES = 4  # a homography has 8 degrees of freedom
# A homography that scales area by more than this (either way) between the
# two frames is not a plausible copy/detail relation but a RANSAC accident.
_MAX_AREA_SCALE = 60.0


# --------------------------------------------------------------------------
# Keypoints and their storage format
# --------------------------------------------------------------------------


# eq=False: field-wise == on numpy arrays is ambiguous; identity is what callers need.
@dataclass(frozen=True, eq=False)
class Keypoints:
    """ORB keypoints of one image in the frame they were computed in.

    ``points`` (N, 2) float32 x, y; ``descriptors`` (N, 32) uint8; ``width`` and
    ``height`` describe that frame (which may be a downscaled copy of the image).
    """

    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int

    # magic, version, width, height, count (little endian, 16 bytes)
    _HEADER: ClassVar[struct.Struct] = struct.Struct("<4sHHHxxI")
    _MAGIC: ClassVar[bytes] = b"AKPT"
    _VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        points = np.ascontiguousarray(self.points, dtype=np.float32).reshape(-1, 2)
        descriptors = np.ascontiguousarray(self.descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES)
        if len(points) != len(descriptors):
            raise ValueError(f"points ({len(points)}) and descriptors ({len(descriptors)}) differ in length")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame must be positive, got {self.width}x{self.height}")
        # Normalised arrays (copied only if needed); object.__setattr__ as the class is frozen.
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "descriptors", descriptors)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def empty(cls, width: int, height: int) -> Keypoints:
        """No keypoints (blank or tiny image) in a ``width`` x ``height`` frame."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), width, height)

    def to_bytes(self) -> bytes:
        """Compact versioned encoding: 16-byte header, float32 points, uint8 descriptors."""
        if max(self.width, self.height) > 0xFFFF:
            raise ValueError(f"frame {self.width}x{self.height} too large to store (max 65535)")
        header = self._HEADER.pack(self._MAGIC, self._VERSION, self.width, self.height, len(self))
        return header + self.points.astype("<f4").tobytes() + self.descriptors.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Keypoints:
        """Inverse of :meth:`to_bytes`; ``ValueError`` on anything malformed."""
        buf = memoryview(data).cast("B")
        size = cls._HEADER.size
        if len(buf) < size:
            raise ValueError("keypoint blob too short for its header")
        magic, version, width, height, count = cls._HEADER.unpack(buf[:size])
        if magic != cls._MAGIC:
            raise ValueError(f"not a keypoint blob (magic {magic!r})")
        if version != cls._VERSION:
            raise ValueError(f"unsupported keypoint blob version {version}")
        expected = size + count * (8 + DESCRIPTOR_BYTES)
        if len(buf) != expected:
            raise ValueError(f"keypoint blob has {len(buf)} bytes, expected {expected}")
        # frombuffer is zero-copy; the arrays are read-only views of the blob.
        points = np.frombuffer(buf, dtype="<f4", count=count * 2, offset=size).reshape(count, 2)
        descriptors = np.frombuffer(
            buf, dtype=np.uint8, count=count * DESCRIPTOR_BYTES, offset=size + count * 8
        ).reshape(count, DESCRIPTOR_BYTES)
        return cls(points, descriptors, width, height)


# --------------------------------------------------------------------------
# Feature extraction
# --------------------------------------------------------------------------


def _orb(n_features: int) -> cv2.ORB:
    # edgeThreshold 15 (default 31): collection images are only ~300 px and the
    # default ignores a 31 px band on every side of every pyramid level (~40 %
    # of a 300x200 picture).  Measured on the WGA sample, 0.3x downscaled copies
    # went from 0/29 to 29/29 verified and small details matched ~2x more
    # inliers; descriptors near the border read OpenCV's reflected padding.
    # fastThreshold stays at the default 20 (12 gained nothing, cost time).
    return cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, edgeThreshold=15, fastThreshold=20)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(rgb)
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 1:
        gray = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        gray = cv2.cvtColor(np.ascontiguousarray(image), code)
    else:
        raise ValueError(f"expected an (H, W) or (H, W, 3|4) image, got shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(gray)


def _frame(gray: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so that the long side is at most ``max_side``."""
    h, w = gray.shape
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # INTER_AREA: anti-aliased downscaling keeps corners stable for FAST.
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _spread_order(points: np.ndarray, octaves: np.ndarray, width: int, height: int) -> np.ndarray:
    """Order keypoints so that every prefix is spread over the image and the scales.

    Round-robin over (4x4 grid cell, pyramid octave) groups.  Matching can
    then search a prefix of a candidate's descriptors first and stop early
    (see ``QueryMatcher``); coarse octaves, having few keypoints, come early,
    so small or downscaled queries still find their counterparts in a prefix.
    Within a group ORB's own order is kept (roughly raster order): on the WGA
    sample it lost fewer details at the early-stop gates than strongest-first.
    """
    cx = np.minimum((points[:, 0] * _GRID / width).astype(np.int64), _GRID - 1)
    cy = np.minimum((points[:, 1] * _GRID / height).astype(np.int64), _GRID - 1)
    group = (cy * _GRID + cx) * 64 + octaves  # ORB has at most nlevels=8 octaves
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.empty(len(points), np.int64)  # position within the group
    rank[order] = np.arange(len(points)) - np.repeat(starts, np.diff(np.r_[starts, len(points)]))
    return np.lexsort((group, rank))


def _detect(detector: cv2.ORB, gray: np.ndarray) -> Keypoints:
    h, w = gray.shape
    kps, desc = detector.detectAndCompute(gray, None)
    if desc is None or not kps:  # detectAndCompute returns None for no keypoints
        return Keypoints.empty(w, h)
    points = np.array([kp.pt for kp in kps], dtype=np.float32)
    octaves = np.array([kp.octave for kp in kps], dtype=np.int64)
    order = _spread_order(points, octaves, w, h)
    return Keypoints(points[order], desc[order], w, h)


def orb_keypoints(rgb: np.ndarray, *, max_side: int = 512, n_features: int = 1000) -> Keypoints:
    """ORB keypoints of an RGB (or grey) image.

    Grey-level ORB: descriptors are intensity comparisons, so colour changes
    mostly survive.  Images larger than ``max_side`` are downscaled (area
    interpolation) so big uploads cost the same as collection images (~300 px),
    which are used at their native size; ``Keypoints.width/height`` record the
    frame, the points are in it.
    """
    if max_side < 32:
        raise ValueError(f"max_side must be >= 32, got {max_side}")
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    return _detect(_orb(n_features), _frame(_to_gray(rgb), max_side))


# --------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------


class LshMatcher:
    """A FLANN LSH index over one descriptor set, searched with k=2.

    Same index as ``cv2.FlannBasedMatcher`` with the LSH params, but through
    ``cv2.flann.Index`` so that results come back as arrays (no per-match
    ``DMatch`` objects; this is the hot loop of a query).
    """

    def __init__(self) -> None:
        self._index: cv2.flann.Index | None = None
        self._size = 0

    def train(self, descriptors: np.ndarray) -> LshMatcher:
        """Build the index over ``descriptors`` (N, 32) uint8; returns self."""
        descriptors = np.ascontiguousarray(descriptors, dtype=np.uint8)
        self._size = len(descriptors)
        if self._size >= 2:  # a k=2 search needs two training rows
            cv2.setRNGSeed(_LSH_SEED)
            self._index = cv2.flann.Index(descriptors, LSH_INDEX_PARAMS)
        else:
            self._index = None
        return self

    def __len__(self) -> int:
        return self._size

    def ratio_matches(self, descriptors: np.ndarray, ratio: float = RATIO) -> np.ndarray:
        """Indices (M, 2) [train_idx, descriptor_idx] passing the ratio test.

        LSH may find fewer than two neighbours for a descriptor (index -1);
        those are dropped, like find_obj.py drops short match lists.
        """
        if self._index is None or len(descriptors) == 0:
            return np.zeros((0, 2), np.int64)
        idx, dist = self._index.knnSearch(np.ascontiguousarray(descriptors, dtype=np.uint8), 2, params={})
        idx = idx.reshape(-1, 2)
        dist = dist.reshape(-1, 2).astype(np.float32)
        ok = (idx[:, 0] >= 0) & (idx[:, 1] >= 0) & (dist[:, 0] < ratio * dist[:, 1])
        rows = np.flatnonzero(ok)
        return np.stack([idx[rows, 0].astype(np.int64), rows], axis=1)


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Outcome of verifying one query/candidate pair.

    ``homography`` maps query-frame points to candidate-frame points (with a
    reflection when ``mirrored``).  ``coverage_query`` is the fraction of the
    query frame covered by the candidate's outline projected into it,
    ``coverage_candidate`` the fraction of the candidate covered by the query's.
    ``pairs`` holds the inlier pairs (qx, qy, cx, cy) in the two frames, whose
    sizes are ``query_size`` and ``candidate_size`` (width, height).
    ``early_stop``: the search was abandoned after a prefix of the candidate's
    descriptors, so ``good_matches`` counts that prefix only.
    """

    good_matches: int
    inliers: int
    mirrored: bool = False
    homography: np.ndarray | None = None
    coverage_query: float = 0.0
    coverage_candidate: float = 0.0
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    query_size: tuple[int, int] = (0, 0)
    candidate_size: tuple[int, int] = (0, 0)
    early_stop: bool = False

    @classmethod
    def none(cls, query_size: tuple[int, int], candidate_size: tuple[int, int]) -> MatchResult:
        """No evidence at all (too few keypoints or matches)."""
        return cls(0, 0, query_size=query_size, candidate_size=candidate_size)


def _corners(width: int, height: int) -> np.ndarray:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    """Project points; None if any lands at/behind the horizon (w <= 0)."""
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ h.T
    w = homog[:, 2]
    # Normalise the sign first: H and -H are the same homography.
    if np.all(w < 0):
        homog, w = -homog, -w
    if not np.all(w > 1e-9):
        return None
    return homog[:, :2] / w[:, None]


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def coverage(h: np.ndarray | None, src_size: tuple[int, int], dst_size: tuple[int, int]) -> float:
    """Fraction of the ``dst`` frame covered by the ``src`` outline mapped through ``h``.

    The projected quadrilateral is clipped to the destination rectangle.
    Degenerate mappings (points at infinity, folded/non-convex outline,
    non-finite values) cover nothing.
    """
    if h is None or not np.all(np.isfinite(h)):
        return 0.0
    quad = _project(h, _corners(*src_size))
    if quad is None:
        return 0.0
    quad32 = quad.astype(np.float32).reshape(-1, 1, 2)
    if not cv2.isContourConvex(quad32):
        return 0.0
    dst_w, dst_h = dst_size
    clipped = _clip_to_rect(quad, dst_w, dst_h)
    if len(clipped) < 3:
        return 0.0
    return float(min(1.0, _polygon_area(clipped) / float(dst_w * dst_h)))


def _clip_to_rect(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon to [0, width] x [0, height].

    Hand-rolled because cv2.intersectConvexConvex mis-handles coincident edges
    (an identity homography, i.e. the common case of an exact copy).
    """
    # Each edge of the rectangle as (axis, bound, keep_if_below).
    for axis, bound, below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if len(poly) == 0:
            break
        out: list[np.ndarray] = []
        for i in range(len(poly)):
            cur, nxt = poly[i], poly[(i + 1) % len(poly)]
            cur_in = cur[axis] <= bound if below else cur[axis] >= bound
            nxt_in = nxt[axis] <= bound if below else nxt[axis] >= bound
            if cur_in:
                out.append(cur)
            if cur_in != nxt_in:
                t = (bound - cur[axis]) / (nxt[axis] - cur[axis])
                out.append(cur + t * (nxt - cur))
        poly = np.array(out, dtype=np.float64).reshape(-1, 2)
    return poly


def _plausible(h: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> bool:
    """Reject homographies that fold, flip to infinity or explode the area."""
    if not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
        return False
    quad = _project(h, _corners(*src_size))
    if quad is None or not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
        return False
    scale = _polygon_area(quad) / float(src_size[0] * src_size[1])
    # Also relative to the destination: a 4000-px detail of a 300-px image is fine,
    # as long as the outline is within a sane factor of either frame.
    rel_dst = _polygon_area(quad) / float(dst_size[0] * dst_size[1])
    return (1 / _MAX_AREA_SCALE <= scale <= _MAX_AREA_SCALE) and (1 / _MAX_AREA_SCALE <= rel_dst <= _MAX_AREA_SCALE)


def _flip_x(points: np.ndarray, width: int) -> np.ndarray:
    """Points mirrored left-right in a frame `width` wide (its own inverse). cv2.flip maps pixel
    column x to width - 1 - x (pixel-centre coordinates)."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[:, 0] = (width - 1) - out[:, 0]
    return out


def _fit_homography(q_pts: np.ndarray, c_pts: np.ndarray, *, mirrored: bool, query_width: int
                    ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Robust homography query frame -> candidate frame, and its inlier mask.

    OpenCV's USAC framework rather than classic RANSAC: its SPRT test abandons bad hypotheses
    early and its degeneracy checks reject the folded fits that random matches allow. Classic
    RANSAC runs its full 2000 iterations whenever the inlier share is low: 51 ms per candidate
    for a blurred, repetitive detail whose ~100 ratio-test matches were all noise (12.6 s for
    that query over its shortlists), USAC 0.6 ms. USAC also rejects orientation-reversing
    models, so a mirror match is fitted in the flipped frame its keypoints came from and the
    flip composed back in.
    """
    if not mirrored:
        return cv2.findHomography(q_pts, c_pts, cv2.USAC_DEFAULT, RANSAC_REPROJ_PX)
    h, mask = cv2.findHomography(_flip_x(q_pts, query_width), c_pts, cv2.USAC_DEFAULT, RANSAC_REPROJ_PX)
    flip = np.array([[-1.0, 0.0, query_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # _flip_x as a matrix
    return (None if h is None else h @ flip), mask


def _verify(
    query: Keypoints,
    candidate: Keypoints,
    pairs_idx: np.ndarray,
    *,
    mirrored: bool,
    min_inliers: int,
) -> MatchResult:
    """Robust homography (USAC) over ratio-test matches (query idx, candidate idx)."""
    q_size, c_size = (query.width, query.height), (candidate.width, candidate.height)
    good = len(pairs_idx)
    # With fewer matches than the caller needs the fit cannot reach the
    # threshold, so it is not run (inliers reported as 0).
    if good < max(MIN_HOMOGRAPHY_MATCHES, min_inliers):
        return MatchResult(good, 0, mirrored, query_size=q_size, candidate_size=c_size)
    q_pts = query.points[pairs_idx[:, 0]]
    c_pts = candidate.points[pairs_idx[:, 1]]
    h, mask = _fit_homography(q_pts, c_pts, mirrored=mirrored, query_width=query.width)
    if h is None or mask is None or not _plausible(h, q_size, c_size):
        return MatchResult(good, 0, mirrored, query_size=q_size, candidate_size=c_size)
    inlier = mask.ravel().astype(bool)
    h_inv = np.linalg.inv(h)  # cannot fail: _plausible checked the determinant
    return MatchResult(
        good_matches=good,
        inliers=int(inlier.sum()),
        mirrored=mirrored,
        homography=h,
        coverage_query=coverage(h_inv, c_size, q_size),
        coverage_candidate=coverage(h, q_size, c_size),
        pairs=np.hstack([q_pts[inlier], c_pts[inlier]]).astype(np.float32),
        query_size=q_size,
        candidate_size=c_size,
    )


class _Side:
    """One orientation of the query: its keypoints and the LSH index over them."""

    def __init__(self, keypoints: Keypoints) -> None:
        self.keypoints = keypoints
        self.matcher = LshMatcher().train(keypoints.descriptors)

    def match(self, candidate: Keypoints, *, mirrored: bool, min_inliers: int, gates: Gates) -> MatchResult:
        desc = candidate.descriptors
        found: list[np.ndarray] = []
        count = done = 0
        # Stored descriptors are in spread order (see _spread_order), so each
        # prefix is a representative sample: an unrelated pair rarely collects
        # `gate` ratio-test matches in it and is dropped after a fraction of the work.
        for prefix, gate in gates:
            if prefix >= len(desc):
                break
            part = self.matcher.ratio_matches(desc[done:prefix])
            part[:, 1] += done
            found.append(part)
            count += len(part)
            done = prefix
            if count < gate:
                return MatchResult(
                    count,
                    0,
                    mirrored,
                    query_size=(self.keypoints.width, self.keypoints.height),
                    candidate_size=(candidate.width, candidate.height),
                    early_stop=True,
                )
        rest = self.matcher.ratio_matches(desc[done:])
        rest[:, 1] += done
        pairs = np.vstack([*found, rest])
        return _verify(self.keypoints, candidate, pairs, mirrored=mirrored, min_inliers=min_inliers)


def _mirror(kps: Keypoints) -> Keypoints:
    """Map keypoints found on a horizontally flipped frame back to the original frame."""
    return Keypoints(_flip_x(kps.points, kps.width), kps.descriptors, kps.width, kps.height)


class QueryMatcher:
    """Verifies many stored candidates against one query image.

    The query's ORB features (and those of its horizontal mirror, since ORB
    descriptors are not mirror-invariant) are indexed once; each candidate
    costs one LSH k=2 search of its descriptors per orientation tried.
    Mirrored features are mapped back to the query frame, so every
    homography/pair is in the same frame; a mirror match shows up as a
    reflecting homography with ``mirrored=True``.  Rotations need no special
    handling: ORB descriptors are steered by the keypoint orientation.

    Early stops, cheapest first:

    * ``gates``: (prefix, gate) stages; an orientation whose first ``prefix``
      candidate descriptors give fewer than ``gate`` ratio-test matches is
      abandoned (``early_stop=True``).  With the defaults, on the WGA sample
      (different artists, per orientation) 25 % of unrelated pairs pass the
      first stage and 3 % both, so ~1/5 of the descriptors are searched; of
      1400 perturbed copies only 3 small details that exhaustive search
      verifies were lost.  ``gates=()`` (or ``exhaustive=True``) searches
      everything;
    * RANSAC only runs with at least ``min_inliers`` (>= 4) matches;
    * the mirror is only tried if the normal orientation has fewer than
      ``conclusive_inliers`` inliers.
    """

    def __init__(
        self,
        keypoints: Keypoints,
        mirrored: Keypoints | None = None,
        *,
        conclusive_inliers: int = 20,
        gates: Gates = DEFAULT_GATES,
    ) -> None:
        if conclusive_inliers < MIN_HOMOGRAPHY_MATCHES:
            raise ValueError(f"conclusive_inliers must be >= {MIN_HOMOGRAPHY_MATCHES}, got {conclusive_inliers}")
        gates = tuple((int(p), int(g)) for p, g in gates)
        prefixes = [p for p, _ in gates]
        if any(p <= 0 or g < 0 for p, g in gates) or prefixes != sorted(set(prefixes)):
            raise ValueError(f"gates must be (prefix > 0, gate >= 0) with increasing prefixes, got {gates}")
        self.keypoints = keypoints
        self.conclusive_inliers = conclusive_inliers
        self.gates = gates
        self._normal = _Side(keypoints)
        self._mirror = _Side(mirrored) if mirrored is not None and len(mirrored) >= 2 else None

    @classmethod
    def from_image(
        cls,
        rgb: np.ndarray,
        *,
        max_side: int = 512,
        n_features: int = 1000,
        mirror: bool = True,
        conclusive_inliers: int = 20,
        gates: Gates = DEFAULT_GATES,
    ) -> QueryMatcher:
        """ORB for ``rgb`` (and its mirror unless ``mirror=False``) and their indexes."""
        detector = _orb(n_features)
        gray = _frame(_to_gray(rgb), max_side)
        normal = _detect(detector, gray)
        flipped = _mirror(_detect(detector, cv2.flip(gray, 1))) if mirror else None
        return cls(normal, flipped, conclusive_inliers=conclusive_inliers, gates=gates)

    def __len__(self) -> int:
        return len(self.keypoints)

    def match(
        self,
        candidate: Keypoints,
        *,
        min_inliers: int = MIN_HOMOGRAPHY_MATCHES,
        try_mirror: bool = True,
        exhaustive: bool = False,
    ) -> MatchResult:
        """Verify one candidate: normal orientation first, the mirror only if needed.

        Returns the orientation with more inliers (normal on ties).  Pass the
        rule's required inliers as ``min_inliers`` to skip hopeless RANSAC
        fits; the default (4) always fits when possible, for calibration.
        ``try_mirror=False`` skips the mirror (half the cost for unrelated
        candidates), e.g. for candidates whose cosine makes a copy implausible;
        ``exhaustive=True`` ignores the early-stop gates (e.g. for the few
        best candidates by cosine, where a lost small detail costs most).
        """
        q_size = (self.keypoints.width, self.keypoints.height)
        c_size = (candidate.width, candidate.height)
        if len(candidate) < 2 or len(self.keypoints) < 2:
            return MatchResult.none(q_size, c_size)
        kw = {"min_inliers": min_inliers, "gates": () if exhaustive else self.gates}
        normal = self._normal.match(candidate, mirrored=False, **kw)
        if normal.inliers >= self.conclusive_inliers or self._mirror is None or not try_mirror:
            return normal
        flipped = self._mirror.match(candidate, mirrored=True, **kw)
        return flipped if flipped.inliers > normal.inliers else normal
