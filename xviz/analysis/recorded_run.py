"""What the Attention page's text and image runs share: a Recording and its layer/head counts."""

from __future__ import annotations

import torch

from xviz.hooks import Recording


class RecordedRun:
    rec: Recording

    @property
    def num_layers(self) -> int:
        return self.rec.num_layers("probs")

    @property
    def num_heads(self) -> int:
        return self.rec.num_heads("probs")

    def probs(self) -> torch.Tensor:
        """(L, H, N, N) of the first batch item, in the stored dtype (stacked once by the Recording)."""
        return self.rec.stack("probs")[:, 0]  # (L, B, H, N, N) → (L, H, N, N)
