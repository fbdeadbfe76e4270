"""Head yaw (left/right turn) from MTCNN's five landmarks, and which faces a photo's restoration keeps.

Yaw model (weak perspective, one generic head): in the frame where the eye line is horizontal (roll removed), a head
turned by yaw θ moves its nose tip, which stands ``NOSE_DEPTH`` half-interocular distances in front of the face's
midline (eyes and mouth), sideways by s·D·sin θ, while the half interocular distance shrinks to s·cos θ. So

    offset / half_eye = D · tan θ,   θ = atan(offset / (D · half_eye))

with ``offset`` the nose tip's distance from the line through the eyes' midpoint and the mouth's midpoint, at the
nose's height. D = 0.87 comes from the generic 3D face commonly used for head-pose estimation (eye outer corners
±225 units at depth -135, mouth corners ±150 at -125, nose tip at 0: the midline lies ~130 units behind the nose,
the eye centres ~150 units out). Frontal faces read 0°, a nose right above one eye reads about 49°; past that the
FFHQ 5-point template cannot be fitted without mangling the face, so profiles beyond :data:`MAX_YAW` (45°) are left
alone by default. Positive yaw: the nose lies towards the image's right (the person turned to their left).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOSE_DEPTH = 0.87
#: Default largest |yaw| (degrees) of a face that is restored; stronger profiles are left as they are.
MAX_YAW = 45.0


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Yaw in degrees (-90..90) of a face from its 5 landmarks (left eye, right eye, nose, mouth left, mouth right);
    NaN when the landmarks are missing or the eyes coincide."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
        return float("nan")
    le, re, nose, ml, mr = pts
    eye_vec = re - le
    half_eye = 0.5 * float(np.hypot(*eye_vec))
    if half_eye < 1e-6:
        return float("nan")
    # roll removed: x along the eye line (towards the right eye), y perpendicular to it (down the face)
    ex = eye_vec / (2 * half_eye)
    ey = np.array([-ex[1], ex[0]])
    eye_mid, mouth_mid = (le + re) / 2, (ml + mr) / 2

    def local(p):
        d = p - eye_mid
        return float(d @ ex), float(d @ ey)

    nx, ny = local(nose)
    mx, my = local(mouth_mid)
    # the midline's x at the nose's height (the eye midpoint is the origin); a degenerate mouth falls back to x = 0
    mid_x = mx * (ny / my) if my > 1e-6 else 0.0
    offset = nx - mid_x
    return math.degrees(math.atan2(offset, NOSE_DEPTH * half_eye))


@dataclass(frozen=True)
class Selection:
    """Which of a photo's faces are restored. The faces are numbered 1..N, largest first.

    ``faces``: the face numbers to restore exactly (the app's per-face checkboxes); None = every face that passes the
    filters below. ``min_size``: the box's shorter side in input pixels (0 = no limit); ``min_score``: MTCNN's
    confidence (its own threshold is 0.9); ``max_yaw``: the largest |yaw| in degrees (90 = no limit).
    ``large_faces``: restore faces already large enough in the output too (see ``face_photo.large_face``);
    False leaves them as the plain resize.
    """

    faces: tuple[int, ...] | None = None
    min_size: float = 0.0
    min_score: float = 0.0
    max_yaw: float = MAX_YAW
    large_faces: bool = False

    def __post_init__(self):
        for name, lo, hi in (("min_size", 0, 1e5), ("min_score", 0, 1), ("max_yaw", 0, 90)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a number between {lo:g} and {hi:g}, got {v!r}")
        if self.faces is not None:
            faces = tuple(self.faces)
            if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 1 for i in faces):
                raise ValueError(f"faces must be face numbers 1, 2, ... (largest face first), got {list(faces)!r}")
            object.__setattr__(self, "faces", tuple(sorted(set(int(i) for i in faces))))

    def skip_reason(self, number: int, size: float, score: float, yaw: float) -> str | None:
        """Why face ``number`` is not restored by the filters (None: it passes). Chosen faces pass regardless."""
        if self.faces is not None:
            return None if number in self.faces else "not chosen"
        if size < self.min_size:
            return f"smaller than {self.min_size:g} px"
        if score < self.min_score:
            return f"confidence below {self.min_score:g}"
        if math.isfinite(yaw) and abs(yaw) > self.max_yaw:
            return f"profile (yaw {yaw:+.0f}°, limit ±{self.max_yaw:g}°)"
        return None
