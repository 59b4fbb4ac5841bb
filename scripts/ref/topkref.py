#!/usr/bin/env python3
"""fixtures/ref/topk-torch/picks.txt: what torch.topk(largest=True, sorted=True) returns on the
CPU for rows full of ties, the order lib/infer/topk_torch.c reproduces (DeepSeek-V4's indexer
picks with it in transformers).  Runs wherever torch is (the GPU machine): python3 topkref.py OUT.

Each line: n k nvals vis seed dtype : the k indices.  Row j < vis holds ((x >> 33) % nvals) - 1
with x the 64-bit LCG x = x * 6364136223846793005 + 1442695040888963407 started at seed and
stepped before each value; j >= vis holds -inf (the indexer's causal mask)."""
import sys

import torch

M = (1 << 64) - 1


def row(n, nvals, vis, seed):
    x, out = seed, []
    for j in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & M
        out.append(float((x >> 33) % nvals) - 1.0 if j < vis else float("-inf"))
    return out


def main():
    torch.set_num_threads(1)
    lines = [f"# torch {torch.__version__}, CPU, torch.topk(t, k, largest=True, sorted=True).indices"]
    seed = 1
    for n in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 40, 64, 65, 127, 128, 129, 200, 513, 1024, 2000):
        for k in (1, 2, 3, 8, 16, 17, 18, 40, 100):
            if k > n:
                continue
            for nvals in (1, 2, 1000):
                for vis in sorted({n, (n * 3) // 4, k // 2}):
                    for dt in (("f32", "f64") if n == 40 else ("f32",)):
                        seed += 1
                        v = torch.tensor(row(n, nvals, vis, seed), dtype=torch.float32 if dt == "f32" else torch.float64)
                        idx = torch.topk(v, k, largest=True, sorted=True).indices.tolist()
                        lines.append(f"{n} {k} {nvals} {vis} {seed} {dt} : " + " ".join(map(str, idx)))
    open(sys.argv[1], "w").write("\n".join(lines) + "\n")
    print(len(lines) - 1, "cases")


if __name__ == "__main__":
    main()
