#!/usr/bin/env python3
"""PyTorch peer for the Autodidact engine benchmark.

Builds a small llama-style decoder in plain PyTorch (no transformers) and
measures the same two workloads as our TypeScript engine benchmark:

1. One training step: forward, mean cross-entropy, backward, AdamW step and
   zero_grad, on random tokens. Reported as the median wall-clock milliseconds
   over ``--iters`` steps after ``--warmup`` steps.
2. KV-cached sampling under ``torch.inference_mode()``: prefill a random prompt
   once, then decode ``--new-tokens`` tokens one at a time, sampling at
   temperature 1.0 and gathering the log-probability of every chosen token.
   Reported as tokens/s (``sample_batch * new_tokens / total time``, prefill
   included), median over 3 runs after 1 warmup run.

Architecture: token embedding; N blocks of
  x = x + Attn(RMSNorm(x))   (fused qkv, rotary embeddings, causal SDPA)
  x = x + MLP(RMSNorm(x))    (SwiGLU: down(silu(gate(x)) * up(x)))
final RMSNorm; untied LM head. No biases anywhere.

Human-readable progress goes to stderr; the last line on stdout is a single
JSON object: {"trainStepMs", "sampleTokPerS", "torch", "threads", "params"}.

Example:
  python bench/engine_torch.py --layers 4 --dmodel 128 --heads 4 \
      --seq 64 --batch 32 --vocab 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(f"engine_torch.py: PyTorch is required ({exc}); install torch first")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def rope_tables(max_len: int, head_dim: int, theta: float = 10000.0):
    """cos/sin tables of shape (max_len, head_dim) for the rotate-half convention."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    pos = torch.arange(max_len, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)  # (T, head_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, head_dim)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, H, T, hd); cos/sin: (T, hd) broadcast over B and H.
    return x * cos + rotate_half(x) * sin


class KVCache:
    """Per-layer key/value cache.

    ``mode="prealloc"`` writes into buffers sized for the whole generation;
    ``mode="cat"`` grows the tensors with torch.cat on every step.
    """

    def __init__(self, mode: str, batch: int, heads: int, max_len: int, head_dim: int,
                 dtype=torch.float32):
        self.mode = mode
        self.len = 0
        if mode == "prealloc":
            self.k = torch.empty(batch, heads, max_len, head_dim, dtype=dtype)
            self.v = torch.empty(batch, heads, max_len, head_dim, dtype=dtype)
        elif mode == "cat":
            self.k = None
            self.v = None
        else:
            raise ValueError(f"unknown KV cache mode {mode!r}")

    def update(self, k: torch.Tensor, v: torch.Tensor):
        """Append k, v of shape (B, H, t, hd); return all cached keys and values."""
        t = k.shape[2]
        if self.mode == "prealloc":
            end = self.len + t
            if end > self.k.shape[2]:
                raise RuntimeError(f"KV cache overflow: {end} > {self.k.shape[2]}")
            self.k[:, :, self.len:end] = k
            self.v[:, :, self.len:end] = v
            self.len = end
            return self.k[:, :, :end], self.v[:, :, :end]
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat((self.k, k), dim=2)
            self.v = torch.cat((self.v, v), dim=2)
        self.len += t
        return self.k, self.v


class Attention(nn.Module):
    def __init__(self, dmodel: int, heads: int):
        super().__init__()
        if dmodel % heads != 0:
            raise ValueError(f"dmodel ({dmodel}) must be divisible by heads ({heads})")
        self.heads = heads
        self.head_dim = dmodel // heads
        if self.head_dim % 2 != 0:
            raise ValueError(f"head dim ({self.head_dim}) must be even for rotary embeddings")
        self.qkv = nn.Linear(dmodel, 3 * dmodel, bias=False)
        self.out = nn.Linear(dmodel, dmodel, bias=False)

    def forward(self, x, cos, sin, cache: KVCache | None = None):
        B, T, D = x.shape
        q, k, v = (
            self.qkv(x)
            .view(B, T, 3, self.heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
            .unbind(0)
        )
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        # Causal masking is needed whenever several new queries are processed
        # (training and prefill from an empty cache). A single decode query
        # may attend to every cached position.
        causal = T > 1
        if cache is not None:
            if causal and cache.len != 0:
                raise RuntimeError("multi-token forward with a non-empty cache is not supported")
            k, v = cache.update(k, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, dmodel: int, ffn: int):
        super().__init__()
        self.gate = nn.Linear(dmodel, ffn, bias=False)
        self.up = nn.Linear(dmodel, ffn, bias=False)
        self.down = nn.Linear(ffn, dmodel, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, dmodel: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.attn_norm = nn.RMSNorm(dmodel, eps=eps)
        self.attn = Attention(dmodel, heads)
        self.mlp_norm = nn.RMSNorm(dmodel, eps=eps)
        self.mlp = MLP(dmodel, ffn)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, cache)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    def __init__(self, vocab: int, dmodel: int, heads: int, layers: int, ffn: int,
                 max_len: int, eps: float = 1e-5):
        super().__init__()
        self.heads = heads
        self.head_dim = dmodel // heads
        self.max_len = max_len
        self.embed = nn.Embedding(vocab, dmodel)
        self.blocks = nn.ModuleList(Block(dmodel, heads, ffn, eps) for _ in range(layers))
        self.norm = nn.RMSNorm(dmodel, eps=eps)
        self.lm_head = nn.Linear(dmodel, vocab, bias=False)
        cos, sin = rope_tables(max_len, self.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, caches: list[KVCache] | None = None,
                start: int = 0) -> torch.Tensor:
        """tokens (B, T) -> logits (B, T, V). ``start`` is the position of tokens[:, 0]."""
        T = tokens.shape[1]
        if start + T > self.max_len:
            raise ValueError(f"sequence position {start + T} exceeds max_len {self.max_len}")
        cos = self.rope_cos[start:start + T]
        sin = self.rope_sin[start:start + T]
        x = self.embed(tokens)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, None if caches is None else caches[i])
        return self.lm_head(self.norm(x))

    def new_caches(self, mode: str, batch: int, max_len: int) -> list[KVCache]:
        return [KVCache(mode, batch, self.heads, max_len, self.head_dim) for _ in self.blocks]


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------


def bench_train(model: Decoder, args) -> float:
    """Median ms per training step."""
    gen = torch.Generator().manual_seed(args.seed + 1)
    data = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=gen)
    inputs, targets = data[:, :-1], data[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    model.train()

    def step() -> float:
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for i in range(args.iters):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1e3)
        log(f"  train step {i + 1}/{args.iters}: {times[-1]:.1f} ms (loss {loss:.4f})")
    return statistics.median(times)


@torch.inference_mode()
def sample(model: Decoder, prompt: torch.Tensor, new_tokens: int, cache_mode: str,
           gen: torch.Generator, temperature: float = 1.0):
    """Prefill ``prompt`` once, then decode ``new_tokens`` tokens one at a time.

    Returns (tokens (B, new_tokens), logprobs (B, new_tokens)).
    """
    B, P = prompt.shape
    caches = model.new_caches(cache_mode, B, P + new_tokens)
    out_tokens = torch.empty(B, new_tokens, dtype=torch.long)
    out_logp = torch.empty(B, new_tokens)
    logits = model(prompt, caches, start=0)[:, -1]
    pos = P
    for i in range(new_tokens):
        logp = F.log_softmax(logits / temperature, dim=-1)
        tok = torch.multinomial(logp.exp(), 1, generator=gen)  # (B, 1)
        out_tokens[:, i] = tok[:, 0]
        out_logp[:, i] = logp.gather(1, tok)[:, 0]
        if i + 1 < new_tokens:  # the last sampled token needs no forward pass
            logits = model(tok, caches, start=pos)[:, -1]
            pos += 1
    return out_tokens, out_logp


def bench_sample(model: Decoder, args, runs: int = 3, warmup: int = 1) -> float:
    """Median tokens/s of KV-cached sampling."""
    model.eval()
    gen = torch.Generator().manual_seed(args.seed + 2)
    prompt = torch.randint(0, args.vocab, (args.sample_batch, args.prompt_len), generator=gen)
    n_tok = args.sample_batch * args.new_tokens
    rates = []
    for r in range(warmup + runs):
        t0 = time.perf_counter()
        sample(model, prompt, args.new_tokens, args.kv_cache, gen)
        dt = time.perf_counter() - t0
        if r >= warmup:
            rates.append(n_tok / dt)
            log(f"  sample run {r - warmup + 1}/{runs}: {dt * 1e3:.1f} ms, {rates[-1]:.0f} tok/s")
    return statistics.median(rates)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch peer of the Autodidact engine benchmark (train step + KV-cached sampling).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--layers", type=int, default=4, help="number of decoder blocks")
    p.add_argument("--dmodel", type=int, default=128, help="model width")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--seq", type=int, default=64, help="training sequence length")
    p.add_argument("--batch", type=int, default=32, help="training batch size")
    p.add_argument("--vocab", type=int, default=64, help="vocabulary size")
    p.add_argument("--ffn", type=int, default=None, help="MLP hidden width (default 4*dmodel)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps")
    p.add_argument("--iters", type=int, default=10, help="timed training steps")
    p.add_argument("--sample-batch", type=int, default=32, help="sequences sampled in parallel")
    p.add_argument("--prompt-len", type=int, default=16, help="random prompt length")
    p.add_argument("--new-tokens", type=int, default=64, help="tokens generated per sequence")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--kv-cache", choices=("prealloc", "cat"), default="prealloc",
                   help="KV cache strategy for sampling")
    p.add_argument("--skip-sample", action="store_true", help="skip the sampling benchmark")
    p.add_argument("--skip-train", action="store_true", help="skip the training benchmark")
    args = p.parse_args(argv)
    if args.ffn is None:
        args.ffn = 4 * args.dmodel
    for name in ("layers", "dmodel", "heads", "seq", "batch", "vocab", "ffn", "threads",
                 "sample_batch", "prompt_len", "new_tokens"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.iters <= 0 or args.warmup < 0:
        p.error("--iters must be positive and --warmup non-negative")
    if args.dmodel % args.heads != 0 or (args.dmodel // args.heads) % 2 != 0:
        p.error("--dmodel must be divisible by --heads into an even head dimension")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    max_len = max(args.seq, args.prompt_len + args.new_tokens)
    model = Decoder(args.vocab, args.dmodel, args.heads, args.layers, args.ffn, max_len)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, params {n_params:,}")
    log(f"shape: layers={args.layers} dmodel={args.dmodel} heads={args.heads} ffn={args.ffn} "
        f"vocab={args.vocab} seq={args.seq} batch={args.batch}")

    train_ms = None
    if not args.skip_train:
        log(f"train: warmup {args.warmup}, iters {args.iters}")
        train_ms = bench_train(model, args)
        log(f"train step median: {train_ms:.1f} ms")

    tok_s = None
    if not args.skip_sample:
        log(f"sample: batch {args.sample_batch}, prompt {args.prompt_len}, "
            f"new {args.new_tokens}, kv-cache {args.kv_cache}")
        tok_s = bench_sample(model, args)
        log(f"sampling median: {tok_s:.0f} tok/s")

    print(json.dumps({
        "trainStepMs": train_ms,
        "sampleTokPerS": tok_s,
        "torch": torch.__version__,
        "threads": args.threads,
        "params": n_params,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
