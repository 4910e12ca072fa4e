"""The CLIP page: zero-shot, the contrastive matrix, where a caption looks, both towers, comparisons."""
