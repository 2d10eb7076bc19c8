#!/usr/bin/env python3
"""Hugging Face transformers reference fixture for the Autodidact engine.

Loads a checkpoint written by our engine (``config.json`` + ``model.safetensors``
in LlamaForCausalLM layout) with ``transformers.LlamaForCausalLM`` and computes,
in float32 on CPU:

* logits for ``input_tokens`` and the log-probabilities of ``target_tokens``
  (targets are already aligned: target_tokens[b][t] is predicted at position t;
  the model's own label shifting is not used);
* the mean negative log-likelihood loss and the gradient of every named
  parameter after one backward pass;
* the losses of ``optim.steps`` AdamW steps on the same batch (each recorded
  before its update), with gradient-norm clipping and weight decay applied only
  to parameters with two or more dimensions.

Loading doubles as an interop check: the script exits non-zero if transformers
reports any missing, unexpected or mismatched weight.

Outputs:
  OUTDIR/reference.safetensors  logits (B,T,V), logprobs (B,T), grad.<param name>
  OUTDIR/reference.json         loss, step_losses, library versions

Usage:
  python scripts/hf_reference.py --checkpoint DIR --batch batch.json --out OUTDIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    import torch
    import torch.nn.functional as F
    import transformers
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import LlamaForCausalLM
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(f"hf_reference.py: missing dependency ({exc}); needs torch, transformers, safetensors")


class FixtureError(Exception):
    """A problem with the inputs; reported without a traceback."""


OPTIM_KEYS = ("lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip_norm", "steps")


def read_batch(path: Path):
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"cannot read batch file {path}: {exc}") from exc
    for key in ("input_tokens", "target_tokens", "optim"):
        if key not in spec:
            raise FixtureError(f"batch file {path} lacks {key!r}")
    try:
        inputs = torch.tensor(spec["input_tokens"], dtype=torch.long)
        targets = torch.tensor(spec["target_tokens"], dtype=torch.long)
    except (TypeError, ValueError) as exc:
        raise FixtureError(f"input_tokens/target_tokens must be rectangular int lists: {exc}") from exc
    if inputs.dim() != 2 or inputs.numel() == 0:
        raise FixtureError(f"input_tokens must be a non-empty [B][T] list, got shape {tuple(inputs.shape)}")
    if targets.shape != inputs.shape:
        raise FixtureError(f"target_tokens shape {tuple(targets.shape)} != input_tokens shape {tuple(inputs.shape)}")
    optim = spec["optim"]
    missing = [k for k in OPTIM_KEYS if k not in optim]
    if missing:
        raise FixtureError(f"optim lacks {missing}")
    optim = {k: (int(optim[k]) if k == "steps" else float(optim[k])) for k in OPTIM_KEYS}
    if optim["steps"] < 1:
        raise FixtureError("optim.steps must be >= 1")
    return inputs, targets, optim


def load_model(checkpoint: Path) -> LlamaForCausalLM:
    for name in ("config.json", "model.safetensors"):
        if not (checkpoint / name).is_file():
            raise FixtureError(f"checkpoint {checkpoint} has no {name}")
    # Our engine writes float32 only; from_pretrained would silently upcast other dtypes.
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as f:
        not_f32 = {k: f.get_slice(k).get_dtype() for k in f.keys()
                   if f.get_slice(k).get_dtype() != "F32"}
    if not_f32:
        raise FixtureError(f"model.safetensors has non-float32 tensors: {not_f32}")
    # transformers 5 renamed ``torch_dtype`` to ``dtype``; pick whichever this version wants.
    major = int(transformers.__version__.split(".")[0])
    dtype_kw = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
    try:
        model, info = LlamaForCausalLM.from_pretrained(
            str(checkpoint), attn_implementation="eager", output_loading_info=True, **dtype_kw
        )
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. shape mismatch, bad config
        raise FixtureError(f"checkpoint {checkpoint} failed to load into LlamaForCausalLM: {exc}") from exc
    problems = {k: v for k, v in info.items() if v}
    if problems:
        lines = "\n".join(f"  {k}: {sorted(map(str, v))}" for k, v in problems.items())
        raise FixtureError(f"checkpoint {checkpoint} does not load cleanly into LlamaForCausalLM:\n{lines}")
    bad = [n for n, p in model.named_parameters() if p.dtype != torch.float32]
    if bad:
        raise FixtureError(f"parameters not float32 after loading: {bad}")
    model.eval()  # no dropout; gradients still flow
    return model


def loss_and_logits(model, inputs, targets):
    logits = model(input_ids=inputs).logits.float()  # (B, T, V)
    vocab = logits.shape[-1]
    if int(targets.max()) >= vocab or int(targets.min()) < 0:
        raise FixtureError(f"target token out of range for vocab size {vocab}")
    logp = F.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -logp.mean(), logits, logp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Compute HF transformers reference logits, gradients and AdamW losses "
                    "for an Autodidact checkpoint.")
    ap.add_argument("--checkpoint", required=True, type=Path,
                    help="directory with config.json and model.safetensors")
    ap.add_argument("--batch", required=True, type=Path,
                    help="batch.json with input_tokens, target_tokens and optim settings")
    ap.add_argument("--out", required=True, type=Path, help="output directory (created if needed)")
    args = ap.parse_args(argv)

    try:
        inputs, targets, optim = read_batch(args.batch)
        model = load_model(args.checkpoint)
        if int(inputs.max()) >= model.config.vocab_size or int(inputs.min()) < 0:
            raise FixtureError(f"input token out of range for vocab size {model.config.vocab_size}")
        params = dict(model.named_parameters())

        # 1. Logits, target log-probs, loss and gradients at the loaded weights.
        loss, logits, logp = loss_and_logits(model, inputs, targets)
        loss.backward()
        tensors = {
            "logits": logits.detach().contiguous(),
            "logprobs": logp.detach().contiguous(),
        }
        for name, p in params.items():
            if p.grad is None:
                raise FixtureError(f"parameter {name} received no gradient")
            tensors[f"grad.{name}"] = p.grad.detach().float().contiguous()
        model.zero_grad(set_to_none=True)

        # 2. AdamW steps from the loaded weights on the same batch.
        decay = [p for p in params.values() if p.dim() >= 2]
        no_decay = [p for p in params.values() if p.dim() < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": optim["weight_decay"]},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=optim["lr"], betas=(optim["beta1"], optim["beta2"]), eps=optim["eps"],
        )
        step_losses = []
        for _ in range(optim["steps"]):
            step_loss, _, _ = loss_and_logits(model, inputs, targets)
            step_losses.append(step_loss.item())
            step_loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), optim["grad_clip_norm"])
            opt.step()
            opt.zero_grad(set_to_none=True)
    except FixtureError as exc:
        print(f"hf_reference.py: error: {exc}", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / "reference.safetensors"))
    report = {
        "loss": loss.item(),
        "step_losses": step_losses,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "note": "produced by scripts/hf_reference.py",
    }
    (args.out / "reference.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'reference.safetensors'} ({len(tensors)} tensors) and "
          f"{args.out / 'reference.json'}; loss {report['loss']:.6f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
