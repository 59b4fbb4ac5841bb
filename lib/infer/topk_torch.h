/* torch.topk(v, k, largest=True, sorted=True) on the CPU, index for index, ties included: the
 * order its TopKImpl.h leaves them in, which is that of libstdc++'s std::nth_element and
 * std::sort (std::partial_sort where 64 k <= n) over (value, index) pairs compared by value
 * alone, NaN above everything.  DeepSeek-V4's indexer picks with it in transformers, and its
 * ReLU-weighted scores tie often (exactly 0 where every head's product is negative): which of
 * the tied entries come first decides which ones a query attends to. */
#ifndef CKPT_INFER_TOPK_TORCH_H
#define CKPT_INFER_TOPK_TORCH_H

#include <stddef.h>
#include <stdint.h>

struct topk_elem {
	double v;
	int64_t i;
};

/* The indices of the min(k, n) largest of the n elements q[j] = {value j, j} into out, in
 * torch's order (q is reordered).  Returns how many were written. */
size_t topk_torch(struct topk_elem *q, size_t n, size_t k, int32_t *out);

#endif
