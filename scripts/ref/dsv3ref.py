"""An independent DeepSeek-V3 forward pass in float64 (torch), written from
shared/spec/deepseek-upstream.md, used to cross-check the upstream references.

forward(W, cfg, ids) takes the HF tensor names (model.embed_tokens.weight, ...) as float
tensors of any dtype, the config.json dict, and input ids [B, S]; it returns the logits
[B, S, vocab] and the hidden states in transformers' convention: hidden[0] = embedding
output, hidden[l] = input of layer l, hidden[L] = final norm of the last layer's output.

Semantics (all float64, no intermediate rounding):
  RMSNorm   x / sqrt(mean(x^2) + eps) * w
  rotary    interleaved pairs (x[2i], x[2i+1]) rotated by p * f_i; YaRN f_i when rope_scaling
            is set; cos/sin multiplied by the attention factor (rope_scaling.attention_factor,
            else g(mscale)/g(mscale_all_dim) when both are set, else g(1)), g(m) = 0.1 m ln(factor) + 1
            (1 when factor <= 1)
  attention softmax scale (nope + rope)^-0.5 * g(mscale_all_dim)^2 when YaRN and mscale_all_dim
  router    s = sigmoid or softmax(logits) (scoring_func, or score_func= to force one);
            b = s + e_score_correction_bias; group score = sum of the group's top-2 b; groups
            outside the best topk_group get b = -inf; top-k experts by b; weights = s of those,
            / their sum when norm_topk_prob, * routed_scaling_factor
  experts   down(silu(gate(x)) * up(x)); shared experts the same, dense layers the same
"""
import math

import torch


def g(factor, m=1.0):
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def rope(cfg, S, dtype):
    d = cfg["qk_rope_head_dim"]
    theta = float(cfg.get("rope_theta", 10000.0))
    f = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    rs = cfg.get("rope_scaling")
    af, mscale = 1.0, 1.0
    if rs:
        factor = float(rs["factor"])
        orig = rs["original_max_position_embeddings"]

        def corr(nrot):
            return d * math.log(orig / (nrot * 2 * math.pi)) / (2 * math.log(theta))

        lo = max(math.floor(corr(rs.get("beta_fast", 32))), 0)
        hi = min(math.ceil(corr(rs.get("beta_slow", 1))), d - 1)
        if lo == hi:
            hi += 0.001
        ramp = ((torch.arange(d // 2, dtype=torch.float64) - lo) / (hi - lo)).clamp(0, 1)
        f = f / factor * ramp + f * (1 - ramp)
        ms, msa = rs.get("mscale"), rs.get("mscale_all_dim")
        if rs.get("attention_factor") is not None:
            af = float(rs["attention_factor"])
        elif ms and msa:
            af = g(factor, ms) / g(factor, msa)
        else:
            af = g(factor)
        if msa:
            mscale = g(factor, msa)
    ang = torch.arange(S, dtype=torch.float64)[:, None] * f[None, :]
    return (torch.cos(ang) * af).to(dtype), (torch.sin(ang) * af).to(dtype), mscale


def rotate(x, cos, sin):
    """x [..., S, (H,) d]: cos/sin [S, d/2] already shaped to broadcast."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)


def forward(W, cfg, ids, dtype=torch.float64, score_func=None):
    def w(n):
        return W[n].to(dtype)

    eps = cfg.get("rms_norm_eps", 1e-6)

    def rms(x, n):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w(n)

    def lin(x, n):
        return x @ w(n).T

    def mlp(x, p):
        return lin(torch.nn.functional.silu(lin(x, p + "gate_proj.weight")) * lin(x, p + "up_proj.weight"),
                   p + "down_proj.weight")

    B, S = ids.shape
    H = cfg["hidden_size"]
    nh, dn, dr, dv = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                      cfg["v_head_dim"])
    C, qlr = cfg["kv_lora_rank"], cfg.get("q_lora_rank")
    cos, sin, m = rope(cfg, S, dtype)
    scale = (dn + dr) ** -0.5 * m * m
    causal = torch.triu(torch.ones(S, S, dtype=torch.bool), 1)
    E, k = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    G, TG = cfg.get("n_group", 1) or 1, cfg.get("topk_group", 1) or 1
    sf = score_func or cfg.get("scoring_func", "sigmoid")

    def attn(x, p):
        p += "self_attn."
        if qlr:
            q = lin(rms(lin(x, p + "q_a_proj.weight"), p + "q_a_layernorm.weight"), p + "q_b_proj.weight")
        else:
            q = lin(x, p + "q_proj.weight")
        q = q.view(B, S, nh, dn + dr)
        qn, qp = q[..., :dn], q[..., dn:]
        kv = lin(x, p + "kv_a_proj_with_mqa.weight")
        c, kp = kv[..., :C], kv[..., C:]
        qp = rotate(qp, cos[:, None, :], sin[:, None, :])
        kp = rotate(kp, cos, sin)
        kvb = lin(rms(c, p + "kv_a_layernorm.weight"), p + "kv_b_proj.weight").view(B, S, nh, dn + dv)
        kn, v = kvb[..., :dn], kvb[..., dn:]
        sc = (torch.einsum("bshd,bthd->bhst", qn, kn) + torch.einsum("bshd,btd->bhst", qp, kp)) * scale
        sc = sc.masked_fill(causal, float("-inf"))
        pr = torch.softmax(sc, dim=-1)
        o = torch.einsum("bhst,bthd->bshd", pr, v).reshape(B, S, nh * dv)
        return lin(o, p + "o_proj.weight")

    def moe(x, p):
        p += "mlp."
        xf = x.reshape(-1, H)
        T = xf.shape[0]
        logits = lin(xf, p + "gate.weight")
        s = torch.sigmoid(logits) if sf == "sigmoid" else torch.softmax(logits, dim=-1)
        bn = p + "gate.e_score_correction_bias"
        b = s + w(bn) if bn in W else s.clone()
        if G > 1:
            bg = b.view(T, G, E // G)
            gs = bg.topk(min(2, E // G), dim=-1).values.sum(-1)
            keep = gs.topk(TG, dim=-1).indices
            drop = torch.ones(T, G, dtype=torch.bool)
            drop.scatter_(1, keep, False)
            b = bg.masked_fill(drop[..., None], float("-inf")).view(T, E)
        idx = b.topk(k, dim=-1).indices
        wt = s.gather(1, idx)
        if cfg.get("norm_topk_prob", True):
            wt = wt / wt.sum(-1, keepdim=True)
        wt = wt * cfg.get("routed_scaling_factor", 1.0)
        y = torch.zeros_like(xf)
        for e in range(E):
            t, j = torch.where(idx == e)
            if t.numel():
                y[t] += mlp(xf[t], p + f"experts.{e}.") * wt[t, j, None]
        y = y + mlp(xf, p + "shared_experts.")
        return y.view(B, S, H), idx.view(B, S, k)

    h = w("model.embed_tokens.weight")[ids]
    hidden = [h]
    routes = {}
    L = cfg["num_hidden_layers"]
    for layer in range(L):
        p = f"model.layers.{layer}."
        h = h + attn(rms(h, p + "input_layernorm.weight"), p)
        x = rms(h, p + "post_attention_layernorm.weight")
        if layer < cfg["first_k_dense_replace"]:
            h = h + mlp(x, p + "mlp.")
        else:
            y, routes[layer] = moe(x, p)
            h = h + y
        hidden.append(h)
    hidden[-1] = rms(h, "model.norm.weight")
    logits = lin(hidden[-1], "lm_head.weight")
    return logits, hidden, routes
