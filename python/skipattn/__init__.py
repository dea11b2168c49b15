"""skipattn for PyTorch: attention with Skip-Softmax block skipping.

    out = skipattn.attention(q, k, v, causal=True, skip={"factor": 12.0})
    out, stats = skipattn.attention(q, k, v, skip=1e-3, return_stats=True)

q [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv] as for
torch.nn.functional.scaled_dot_product_attention; Hq % Hkv == 0 (GQA/MQA).
See python/README.md for the rules (dtypes, strides, skip settings, guards,
caching) and which torch versions get a registered custom op.

skipattn.distributed.ring_attention runs it over the ranks of a
torch.distributed group (docs/distributed.md); the submodule is imported
on first use, so that `import skipattn` does not import torch.distributed.
"""
import importlib
from ._bundles import SkipattnError  # noqa: F401
from ._op import (attention, resolve_skip, block_sizes,  # noqa: F401
                  bundle_key, chip_of, visited_tiles, HAS_CUSTOM_OP,
                  DEFAULT_MIN_KV_LEN)

__all__ = ["attention", "resolve_skip", "block_sizes", "bundle_key",
           "chip_of", "visited_tiles", "SkipattnError", "HAS_CUSTOM_OP",
           "DEFAULT_MIN_KV_LEN"]


def __getattr__(name):
    if name == "distributed":
        return importlib.import_module(".distributed", __name__)
    raise AttributeError("module 'skipattn' has no attribute %r" % name)
