#!/usr/bin/env python3
"""TRL peer for the Autodidact GRPO benchmark.

Runs Hugging Face TRL's ``GRPOTrainer`` from one of our checkpoints
(``config.json`` + ``model.safetensors`` in LlamaForCausalLM layout) on the
scratchpad addition task, with settings chosen to match our GRPO recipe:

* one optimizer step per generation batch of ``prompts_per_step`` prompts x
  ``group`` completions (num_iterations=1, steps_per_generation=1,
  gradient_accumulation_steps=1, per_device_train_batch_size = prompts x group);
* beta=0 (no KL, no reference model), epsilon=0.2, loss_type="dapo"
  (token-level sum over the whole batch divided by its number of completion
  tokens), scale_rewards="group" (advantage = (r - group mean) / (group std + 1e-4),
  std with Bessel's correction);
* AdamW (0.9, 0.999, 1e-8), no weight decay, constant learning rate, no warmup,
  gradient clipping at 1.0, float32 on the CPU, no vLLM.

Tokenizer: our byte tokenizer rebuilt with the ``tokenizers`` library (ids 0-255
are the UTF-8 bytes, 256 <|bos|>, 257 <|eos|>, 258 <|pad|>). TRL tokenizes a
plain-text prompt with ``processing_class(text=prompts)`` (special tokens added),
so the post-processor prepends BOS exactly once: a prompt becomes
[256] + bytes(prompt). This is asserted against ``prompt_ids`` in the config
before training and again for every batch TRL tokenizes.

Reward: a port of our scratchpad verifier (src/verifiers/match.ts numericVerifier
with answerMarker '>' and answerEnd [';', '\\n']): the text after the LAST '>'
up to the first ';' or newline (or the end), trimmed; 1.0 if it parses as a
number equal to the answer (commas ignored, as our parseNumber does), else 0.0;
no '>' gives 0.0. The completion text is the UTF-8 decoding of the completion's
byte ids (special tokens dropped), as in our ByteTokenizer.decode.

Usage:
  python bench/trl_grpo.py --config cfg.json --out OUTDIR

cfg.json: {"checkpoint", "train": [{"prompt", "answer", "prompt_ids"}...],
  "group", "prompts_per_step", "steps", "learning_rate", "temperature",
  "max_completion_length", "epsilon", "save_every", "seed", "threads"}

Outputs: OUTDIR/step-N/ (config.json + model.safetensors, saved with
save_pretrained, plus autodidact.json without optimizer state) every
``save_every`` steps, and OUTDIR/log.json with one record per step (step,
completions so far, seconds so far excluding checkpoint saving, mean reward).
Progress goes to stderr; the last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem with the inputs; reported without a traceback."""


REQUIRED = ("checkpoint", "train", "group", "prompts_per_step", "steps", "learning_rate",
            "temperature", "max_completion_length", "epsilon", "save_every", "seed", "threads")

BOS, EOS, PAD = 256, 257, 258


def read_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read config {path}: {exc}") from exc
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise BenchError(f"config {path} lacks {missing}")
    if not isinstance(cfg["train"], list) or not cfg["train"]:
        raise BenchError("config.train must be a non-empty list")
    for i, item in enumerate(cfg["train"]):
        for k in ("prompt", "answer", "prompt_ids"):
            if k not in item:
                raise BenchError(f"config.train[{i}] lacks {k!r}")
    for k in ("group", "prompts_per_step", "steps", "save_every", "threads", "max_completion_length"):
        if not isinstance(cfg[k], int) or cfg[k] < 1:
            raise BenchError(f"config.{k} must be a positive integer, got {cfg[k]!r}")
    if cfg["group"] < 2:
        raise BenchError("config.group must be >= 2 (GRPO needs two completions per prompt)")
    if len(cfg["train"]) < cfg["prompts_per_step"]:
        raise BenchError(f"the prompt pool ({len(cfg['train'])}) is smaller than prompts_per_step "
                         f"({cfg['prompts_per_step']})")
    return cfg


# --------------------------------------------------------------------------
# Reward: port of numericVerifier({answerMarker: '>', answerEnd: [';', '\n']})
# --------------------------------------------------------------------------

_FRACTION = re.compile(r"^([+-]?\d+)\s*/\s*(\d+)$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_number(text: str) -> float | None:
    cleaned = text.strip().replace(",", "")
    m = _FRACTION.match(cleaned)
    if m:
        den = int(m.group(2))
        return None if den == 0 else int(m.group(1)) / den
    return float(cleaned) if _NUMBER.match(cleaned) else None


def extract_answer(completion: str) -> str | None:
    at = completion.rfind(">")
    if at < 0:
        return None
    text = completion[at + 1:]
    end = len(text)
    for stop in (";", "\n"):
        j = text.find(stop)
        if 0 <= j < end:
            end = j
    return text[:end].strip()


def score(completion: str, answer: str) -> float:
    expected = parse_number(str(answer))
    if expected is None:
        raise BenchError(f"non-numeric answer {answer!r}")
    extracted = extract_answer(completion)
    if not extracted:
        return 0.0
    actual = parse_number(extracted)
    if actual is None:
        return 0.0
    return 1.0 if abs(actual - expected) <= 1e-9 * max(1.0, abs(expected)) else 0.0


def decode_bytes(ids) -> str:
    """Our ByteTokenizer.decode: bytes of ids < 256, UTF-8 with replacement."""
    return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------


def build_tokenizer():
    """Byte-level tokenizer with our ids: GPT-2 byte-to-unicode alphabet as a BPE
    vocabulary without merges, so every byte is one token and id == byte value."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # The printable stand-in the ByteLevel pre-tokenizer uses for each byte.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_to_char = {b: chr(c) for b, c in zip(bs, cs)}
    assert set(byte_to_char.values()) == set(alphabet), "ByteLevel alphabet differs from GPT-2's"
    vocab = {byte_to_char[b]: b for b in range(256)}

    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    added = tok.add_special_tokens(["<|bos|>", "<|eos|>", "<|pad|>"])
    assert added == 3
    for name, want in (("<|bos|>", BOS), ("<|eos|>", EOS), ("<|pad|>", PAD)):
        got = tok.token_to_id(name)
        if got != want:
            raise BenchError(f"tokenizer gave {name} id {got}, expected {want}")
    tok.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A $B", special_tokens=[("<|bos|>", BOS)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>",
        padding_side="left", model_max_length=1 << 20,
    )
    return hf


def check_tokenizer(tokenizer, train: list[dict]) -> None:
    # What TRL 1.x does for plain-text prompts: processing_class(text=prompts)["input_ids"].
    got = tokenizer(text=[t["prompt"] for t in train])["input_ids"]
    for item, ids in zip(train, got):
        want = [int(i) for i in item["prompt_ids"]]
        if list(ids) != want:
            raise BenchError(f"prompt {item['prompt']!r}: tokenizer gives {list(ids)}, config says {want}")
        if want != [BOS] + list(item["prompt"].encode("utf-8")):
            raise BenchError(f"prompt {item['prompt']!r}: prompt_ids are not [BOS] + UTF-8 bytes")
    # Decoding round trip, including non-ASCII bytes and special tokens.
    sample = "47+85=7+5+0=12,4+8+1=13>132;\n é€"
    ids = list(sample.encode("utf-8")) + [EOS, PAD]
    if tokenizer.decode(ids, skip_special_tokens=True) != sample:
        raise BenchError("tokenizer decode does not round-trip bytes")


# --------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------


def load_model(checkpoint: Path, torch, transformers):
    from safetensors import safe_open
    from transformers import LlamaForCausalLM

    for name in ("config.json", "model.safetensors"):
        if not (checkpoint / name).is_file():
            raise BenchError(f"checkpoint {checkpoint} has no {name}")
    meta_path = checkpoint / "autodidact.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    pos = ((meta or {}).get("model") or {}).get("positionEncoding", "rope")
    if pos != "rope":
        raise BenchError(f"checkpoint uses positionEncoding {pos!r}; LlamaForCausalLM has rotary positions only")
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as f:
        not_f32 = {k: f.get_slice(k).get_dtype() for k in f.keys() if f.get_slice(k).get_dtype() != "F32"}
    if not_f32:
        raise BenchError(f"model.safetensors has non-float32 tensors: {not_f32}")
    major = int(transformers.__version__.split(".")[0])
    dtype_kw = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
    model, info = LlamaForCausalLM.from_pretrained(
        str(checkpoint), attn_implementation="sdpa", output_loading_info=True, **dtype_kw
    )
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise BenchError(f"checkpoint {checkpoint} does not load cleanly: {problems}")
    c = model.config
    if (c.bos_token_id, c.eos_token_id, c.pad_token_id) not in ((BOS, EOS, PAD), (None, None, None)):
        raise BenchError(f"config token ids {(c.bos_token_id, c.eos_token_id, c.pad_token_id)} "
                         f"are not our byte tokenizer's {(BOS, EOS, PAD)}")
    if c.vocab_size < 259:
        raise BenchError(f"vocab_size {c.vocab_size} < 259")
    return model, meta


def save_checkpoint(model, out: Path, meta: dict | None, step: int) -> None:
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))  # transformers >= 5 always writes safetensors
    if not (tmp / "model.safetensors").is_file():
        raise BenchError(f"save_pretrained wrote no model.safetensors in {tmp}")
    if meta is not None:  # our metadata (model seed, tokenizer), without optimizer state
        m = {k: v for k, v in meta.items() if k != "optimizer"}
        m["extra"] = {**(m.get("extra") or {}), "trl_grpo_step": step}
        (tmp / "autodidact.json").write_text(json.dumps(m, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run TRL GRPOTrainer from an Autodidact checkpoint.")
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    try:
        cfg = read_config(args.config)
    except BenchError as exc:
        print(f"trl_grpo.py: error: {exc}", file=sys.stderr)
        return 1
    threads = int(cfg["threads"])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    try:
        import datasets
        import tokenizers
        import torch
        import transformers
        import trl
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:  # pragma: no cover - environment problem
        print(f"trl_grpo.py: missing dependency ({exc}); needs torch, transformers, trl, datasets, tokenizers",
              file=sys.stderr)
        return 1
    torch.set_num_threads(threads)

    versions = {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
                "datasets": datasets.__version__, "tokenizers": tokenizers.__version__,
                "python": sys.version.split()[0]}
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    try:
        tokenizer = build_tokenizer()
        check_tokenizer(tokenizer, cfg["train"])
        model, meta = load_model(Path(cfg["checkpoint"]), torch, transformers)
    except BenchError as exc:
        print(f"trl_grpo.py: error: {exc}", file=sys.stderr)
        return 1

    G, P, steps = cfg["group"], cfg["prompts_per_step"], cfg["steps"]
    max_prompt = max(len(t["prompt_ids"]) for t in cfg["train"])
    if max_prompt + cfg["max_completion_length"] > model.config.max_position_embeddings:
        log(f"warning: prompt ({max_prompt}) + max_completion_length ({cfg['max_completion_length']}) exceeds "
            f"max_position_embeddings ({model.config.max_position_embeddings}); transformers does not enforce it")
    expected_ids = {t["prompt"]: [int(i) for i in t["prompt_ids"]] for t in cfg["train"]}
    dataset = datasets.Dataset.from_list([{"prompt": t["prompt"], "answer": str(t["answer"])} for t in cfg["train"]])

    grpo_kwargs = dict(
        output_dir=str(out / "trl-output"),
        # batch geometry: one optimizer step = P prompts x G completions, one step per generation
        num_generations=G,
        per_device_train_batch_size=P * G,  # counted in completions in TRL 1.x
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_iterations=1,
        max_steps=steps,
        shuffle_dataset=True,
        # GRPO objective
        beta=0.0,
        epsilon=cfg["epsilon"],
        loss_type="dapo",
        scale_rewards="group",
        mask_truncated_completions=False,
        importance_sampling_level="token",
        top_entropy_quantile=1.0,
        # sampling
        temperature=cfg["temperature"],
        top_p=1.0,
        top_k=0,
        repetition_penalty=1.0,
        max_completion_length=cfg["max_completion_length"],
        use_vllm=False,
        # optimizer
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        max_grad_norm=1.0,
        # machine and bookkeeping
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        dataloader_num_workers=0,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        log_completions=False,
        disable_tqdm=True,
    )
    grpo_args = GRPOConfig(**grpo_kwargs)

    state = {"rewards": [], "first_checked": False}

    def reward_fn(prompts, completions, completion_ids, answer, **_):
        texts = [decode_bytes(ids) for ids in completion_ids]
        if not state["first_checked"]:  # TRL's decode must agree with ours
            if list(completions) != texts:
                bad = next(i for i, (a, b) in enumerate(zip(completions, texts)) if a != b)
                raise BenchError(f"TRL decoded {completions[bad]!r}, bytes decode to {texts[bad]!r}")
            state["first_checked"] = True
        rewards = [score(t, a) for t, a in zip(texts, answer)]
        state["rewards"].append(sum(rewards) / len(rewards))
        return rewards

    reward_fn.__name__ = "scratchpad_answer"

    class CheckedGRPOTrainer(GRPOTrainer):
        """Asserts that every prompt reaches the model as [BOS] + bytes(prompt)."""

        def _tokenize_prompts(self, prompts):
            prompt_ids, images, multimodal = super()._tokenize_prompts(prompts)
            for text, ids in zip(prompts, prompt_ids, strict=True):
                if list(ids) != expected_ids[text]:
                    raise BenchError(f"TRL tokenized {text!r} as {list(ids)}, expected {expected_ids[text]}")
            state["prompt_batches_checked"] = state.get("prompt_batches_checked", 0) + 1
            return prompt_ids, images, multimodal

    records: list[dict] = []
    clock = {"start": None, "saving": 0.0}

    class Bench(TrainerCallback):
        def on_train_begin(self, args_, st, control, **kw):
            clock["start"] = time.perf_counter()

        def on_step_end(self, args_, st, control, model=None, **kw):
            now = time.perf_counter()
            step = st.global_step
            rec = {
                "step": step,
                "completions": step * P * G,
                "seconds": now - clock["start"] - clock["saving"],
                "mean_reward": state["rewards"][-1] if state["rewards"] else None,
            }
            records.append(rec)
            prev = records[-2]["seconds"] if len(records) > 1 else 0.0
            log(f"step {step}/{steps}  reward {rec['mean_reward']:.4f}  {rec['seconds'] - prev:.2f} s")
            if step % cfg["save_every"] == 0:
                t0 = time.perf_counter()
                save_checkpoint(model, out / f"step-{step}", meta, step)
                clock["saving"] += time.perf_counter() - t0
            return control

        def on_log(self, args_, st, control, logs=None, **kw):
            if logs and records and records[-1]["step"] == st.global_step and "loss" in logs:
                records[-1]["trl"] = {k: logs[k] for k in ("loss", "reward", "reward_std", "grad_norm",
                                                           "completions/mean_length", "entropy",
                                                           "frac_reward_zero_std") if k in logs}

    try:
        trainer = CheckedGRPOTrainer(
            model=model,
            reward_funcs=[reward_fn],
            args=grpo_args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Bench()],
        )
        trainer.train()
    except BenchError as exc:
        print(f"trl_grpo.py: error: {exc}", file=sys.stderr)
        return 1
    if len(records) != steps:
        print(f"trl_grpo.py: error: ran {len(records)} steps, expected {steps}", file=sys.stderr)
        return 1
    if len(state["rewards"]) != steps:
        print(f"trl_grpo.py: error: {len(state['rewards'])} generation batches for {steps} steps "
              "(expected exactly one per optimizer step)", file=sys.stderr)
        return 1

    shutil.rmtree(out / "trl-output", ignore_errors=True)  # empty: save_strategy="no"
    seconds = records[-1]["seconds"]
    effective = {k: getattr(grpo_args, k) for k in (
        "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation",
        "generation_batch_size", "num_iterations", "beta", "epsilon", "epsilon_high", "loss_type",
        "scale_rewards", "learning_rate", "lr_scheduler_type", "weight_decay", "adam_beta1", "adam_beta2",
        "adam_epsilon", "max_grad_norm", "temperature", "top_p", "top_k", "max_completion_length",
        "mask_truncated_completions", "seed", "optim")}
    effective = {k: (str(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
                 for k, v in effective.items()}
    report = {
        "config": {k: cfg[k] for k in REQUIRED if k != "train"},
        "train_prompts": len(cfg["train"]),
        "grpo_config": effective,
        "versions": versions,
        "threads": torch.get_num_threads(),
        "saving_seconds": clock["saving"],
        "prompt_batches_checked": state.get("prompt_batches_checked", 0),
        "steps": records,
    }
    (out / "log.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = {
        "steps": steps,
        "completions": steps * P * G,
        "seconds": seconds,
        "secondsPerStep": seconds / steps,
        "finalReward": records[-1]["mean_reward"],
        "meanReward": sum(r["mean_reward"] for r in records) / steps,
        "checkpoints": [str(out / f"step-{s}") for s in range(cfg["save_every"], steps + 1, cfg["save_every"])],
        "log": str(out / "log.json"),
        **{k: versions[k] for k in ("trl", "transformers", "torch")},
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
