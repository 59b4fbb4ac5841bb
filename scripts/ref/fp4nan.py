#!/usr/bin/env python3
"""What V4-Flash convert.py's cast_e2m1fn_to_e4m3fn (0825add) makes of a NaN group scale
(E8M0 byte 0xFF): the FP8 codes and block scale of the 128x128 block that holds it, and
whether the blocks beside it are touched.  formats/fp4fp8.c writes 0x7F for every code of
such a block and 0xFF for its scale.

  fp4nan.py CONVERT_PY OUT.json
"""
import importlib.util
import json
import sys

import torch

spec = importlib.util.spec_from_file_location("v4convert", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
g = torch.Generator().manual_seed(7)
x = torch.randint(-128, 128, (256, 128), generator=g, dtype=torch.int8)   # [256, 256] FP4
s = torch.randint(110, 130, (256, 8), generator=g, dtype=torch.uint8)
s[3, 1] = 0xFF                                     # block row 0 of 2, block column 0 of 2
y, sc = mod.cast_e2m1fn_to_e4m3fn(x, s.view(torch.float8_e8m0fnu))
yb, sb = y.view(torch.uint8), sc.view(torch.uint8)
res = {
    "nan_block_codes": sorted(set(yb[:128, :128].flatten().tolist())),
    "nan_block_scale": int(sb[0, 0]),
    "other_scales": sb.flatten().tolist(),
    "other_blocks_nan_codes": int(((yb[128:] & 0x7F) == 0x7F).sum() + ((yb[:128, 128:] & 0x7F) == 0x7F).sum()),
    "torch": torch.__version__,
}
print(json.dumps(res))
json.dump(res, open(sys.argv[2], "w"), indent=1)
