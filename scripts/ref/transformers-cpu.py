# transformers' DeepseekV3ForCausalLM on the CPU, timed on the model bench/forward.sh makes
# (converted to BF16 by ckpt-fp8-to-bf16, which transformers loads), for the README's
# comparison with `ckpt-verify --forward` on the same machine.
# Usage: python3 transformers-cpu.py BF16_DIR THREADS TOKENS...   (prints one JSON line)
import json, statistics, sys, time
import torch
from transformers import AutoModelForCausalLM

d, threads, lens = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
torch.set_num_threads(threads)
R = {"threads": threads, "torch": torch.__version__}
for dtype in (torch.float32, torch.bfloat16):
    m = AutoModelForCausalLM.from_pretrained(d, dtype=dtype)
    m.eval()
    g = torch.Generator().manual_seed(7)
    for n in lens:
        ids = torch.randint(0, m.config.vocab_size, (1, n), generator=g)
        ts = []
        with torch.no_grad():
            m(input_ids=ids)  # warm-up: pages and allocator
            for _ in range(5):
                t0 = time.perf_counter()
                m(input_ids=ids)
                ts.append(time.perf_counter() - t0)
        R[f"{str(dtype).split('.')[-1]} {n} tokens"] = {"median_ms": 1e3 * statistics.median(ts), "best_ms": 1e3 * min(ts)}
    del m
print(json.dumps(R))
