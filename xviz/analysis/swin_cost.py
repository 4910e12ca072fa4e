"""Swin's cost model and the receptive field of alternating W-MSA / SW-MSA layers.

Cost (Liu et al. 2021, Eq. 1–2), for an h×w map of C channels and M×M windows:
    Ω(MSA)   = 4hwC² + 2(hw)²C
    Ω(W-MSA) = 4hwC² + 2M²hwC
"""

from __future__ import annotations

import torch

from xviz.errors import InputError
from xviz.layers.windows import window_config, window_groups


def msa_flops(h: int, w: int, C: int) -> int:
    """Ω(MSA) = 4hwC² + 2(hw)²C: projections + global QKᵀ and AV (Liu et al. 2021, Eq. 1)."""
    return 4 * h * w * C * C + 2 * (h * w) ** 2 * C


def wmsa_flops(h: int, w: int, C: int, M: int) -> int:
    """Ω(W-MSA) = 4hwC² + 2M²hwC: QKᵀ and AV only inside M×M windows (Liu et al. 2021, Eq. 2)."""
    return 4 * h * w * C * C + 2 * M * M * h * w * C


def cost_curve(image_sizes: list[int], patch: int = 4, C: int = 96, M: int = 7) -> list[dict]:
    """Rows {image_px, tokens, msa, wmsa, ratio} for square images, first-stage map h = w = image_px / patch.
    Also the attention-matrix entries: (hw)² globally vs hw·M² in windows."""
    rows = []
    for px in image_sizes:
        h = w = max(1, px // patch)
        msa, wmsa = msa_flops(h, w, C), wmsa_flops(h, w, C, M)
        rows.append(
            {
                "image_px": px,
                "tokens": h * w,
                "msa": msa,
                "wmsa": wmsa,
                "ratio": msa / wmsa,
                "msa_entries": (h * w) ** 2,
                "wmsa_entries": h * w * M * M,
            }
        )
    return rows


def _spread(reached: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """One layer back: every token sharing an attention group with a reached token is reached."""
    hit = torch.unique(groups[reached])
    return torch.isin(groups, hit)  # (H, W) bool


def receptive_field(
    H: int, W: int, M: int, token: tuple[int, int], k: int, shift: int | None = None, alternate: bool = True
) -> torch.Tensor:
    """(H, W) long map: for each input position, the smallest number of layers j ≤ k after which it can
    influence output `token` (0 = the token itself, −1 = not within k layers). Layers alternate W-MSA (layer 1)
    and SW-MSA (shift = ⌊M/2⌋ unless given); alternate=False keeps every layer unshifted. Composes the actual
    windows and masks: after j layers, field = e_t · A_j ⋯ A_1, with A_l the layer's may-attend relation."""
    r, c = token
    if not (0 <= r < H and 0 <= c < W):
        raise InputError(f"Token ({r}, {c}) is outside the {H}×{W} map.")
    if k < 0:
        raise InputError(f"The number of layers must be >= 0 (got {k}).")
    s = M // 2 if shift is None else shift
    window_config(H, W, M, s)  # validates M and shift
    groups = [window_groups(H, W, M, s if (alternate and layer % 2 == 1) else 0) for layer in range(k)]
    first = torch.full((H, W), -1, dtype=torch.long)
    first[r, c] = 0
    for j in range(1, k + 1):
        reached = torch.zeros(H, W, dtype=torch.bool)
        reached[r, c] = True
        for layer in reversed(range(j)):  # output side first: layer j, then j−1, …, 1
            reached = _spread(reached, groups[layer])
        first[(first < 0) & reached] = j
    return first


def receptive_field_sizes(
    H: int, W: int, M: int, token: tuple[int, int], k: int, shift: int | None = None
) -> list[dict]:
    """Rows {layers, alternating, unshifted}: receptive-field size (tokens) after j = 0..k layers."""
    alt = receptive_field(H, W, M, token, k, shift, alternate=True)
    fixed = receptive_field(H, W, M, token, k, shift, alternate=False)
    return [
        {
            "layers": j,
            "alternating": int(((alt >= 0) & (alt <= j)).sum()),
            "unshifted": int(((fixed >= 0) & (fixed <= j)).sum()),
        }
        for j in range(k + 1)
    ]
