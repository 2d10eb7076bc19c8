#!/usr/bin/env python3
"""Check autodidact exports with the real consumers.

Loads each export the way its trainer does (`datasets` for JSONL, pyarrow and
`datasets` for Parquet), checks columns and types, then opens the checkpoint
with transformers (AutoModelForCausalLM + AutoTokenizer, its tokenizer.json)
and runs one TRL SFTTrainer step on the trl-sft export, one on the
openai-chat export (conversational path, through the checkpoint's chat
template) and one DPOTrainer step on the trl-dpo export. Prints the losses
as a JSON line at the end; exits non-zero on any failure.

    python scripts/check_exports.py --checkpoint runs/x/checkpoints/round-2 \
        --trl-sft sft.jsonl --trl-dpo dpo.jsonl --openai-chat chat.jsonl --verl-parquet verl.parquet

Needs torch, transformers, trl, datasets, pyarrow (CPU is enough).
"""

import argparse
import json
import math
import os
import sys
import tempfile


def fail(message):
    print(f"check_exports: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


PROVENANCE_KEYS = {
    "run", "run_dir", "round", "task_id", "family", "difficulty", "sample_id", "sample_kind", "policy_version",
    "sampler", "verifier", "verifier_version", "reward", "pass", "accept_reason",
}
SAMPLER_KEYS = {"n", "temperature", "top_p", "max_tokens", "seed", "stop", "extra"}


def check_provenance(record, where):
    check(isinstance(record, dict), f"{where}: provenance is not an object")
    missing = PROVENANCE_KEYS - set(record)
    check(not missing, f"{where}: provenance lacks {sorted(missing)}")
    check(SAMPLER_KEYS <= set(record["sampler"]), f"{where}: provenance.sampler lacks {sorted(SAMPLER_KEYS - set(record['sampler']))}")
    check(isinstance(record["sample_id"], int) and isinstance(record["round"], int), f"{where}: sample_id and round must be integers")


def load_jsonl(path):
    from datasets import load_dataset

    return load_dataset("json", data_files=path, split="train")


def check_sft(path):
    from datasets import Value

    ds = load_jsonl(path)
    check(len(ds) > 0, f"{path}: no rows")
    check({"prompt", "completion", "provenance"} <= set(ds.column_names), f"{path}: columns {ds.column_names}")
    check(ds.features["prompt"] == Value("string") and ds.features["completion"] == Value("string"), f"{path}: prompt/completion are not strings: {ds.features}")
    for i, row in enumerate(ds):
        check_provenance(row["provenance"], f"{path} row {i}")
    return ds


def check_dpo(path):
    from datasets import Value

    ds = load_jsonl(path)
    check(len(ds) > 0, f"{path}: no rows")
    check({"prompt", "chosen", "rejected", "provenance"} <= set(ds.column_names), f"{path}: columns {ds.column_names}")
    for key in ("prompt", "chosen", "rejected"):
        check(ds.features[key] == Value("string"), f"{path}: {key} is {ds.features[key]}, not a string")
    for i, row in enumerate(ds):
        check_provenance(row["provenance"], f"{path} row {i}")
        check(row["chosen"] != row["rejected"], f"{path} row {i}: chosen equals rejected")
        check(row["provenance"]["rejected"]["sample_id"] != row["provenance"]["sample_id"], f"{path} row {i}: one sample on both sides")
    return ds


def check_openai(path):
    # OpenAI's format: each line is exactly {"messages": [...]}, roles user then assistant, string contents.
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    check(len(lines) > 0, f"{path}: no rows")
    for i, line in enumerate(lines):
        check(set(line) == {"messages"}, f"{path} line {i}: keys {sorted(line)}, OpenAI expects only messages")
        roles = [m["role"] for m in line["messages"]]
        check(roles == ["user", "assistant"], f"{path} line {i}: roles {roles}")
        check(all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in line["messages"]), f"{path} line {i}: message keys")
    sidecar = path[: -len(".jsonl")] + ".provenance.jsonl" if path.endswith(".jsonl") else path + ".provenance.jsonl"
    with open(sidecar, encoding="utf-8") as f:
        provenance = [json.loads(line) for line in f if line.strip()]
    check(len(provenance) == len(lines), f"{sidecar}: {len(provenance)} lines for {len(lines)} rows")
    for i, record in enumerate(provenance):
        check(record["line"] == i, f"{sidecar} line {i}: line field {record['line']}")
        check_provenance(record, f"{sidecar} line {i}")
    ds = load_jsonl(path)
    check(ds.column_names == ["messages"], f"{path}: datasets reads columns {ds.column_names}")
    return ds


def check_verl(path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_dataset

    table = pq.read_table(path)
    schema = table.schema
    check(schema.field("data_source").type == pa.string(), f"{path}: data_source is {schema.field('data_source').type}")
    prompt = schema.field("prompt").type
    element = prompt.value_type if pa.types.is_list(prompt) else None
    check(element is not None and pa.types.is_struct(element) and [(element.field(i).name, element.field(i).type) for i in range(element.num_fields)] == [("role", pa.string()), ("content", pa.string())], f"{path}: prompt is {prompt}, expected list<struct<role: string, content: string>>")
    check(schema.field("ability").type == pa.string(), f"{path}: ability is {schema.field('ability').type}")
    reward_model = schema.field("reward_model").type
    check(pa.types.is_struct(reward_model) and {reward_model.field(i).name for i in range(reward_model.num_fields)} == {"style", "ground_truth"}, f"{path}: reward_model is {reward_model}")
    extra = schema.field("extra_info").type
    check(pa.types.is_struct(extra), f"{path}: extra_info is {extra}")
    check(extra.field("index").type == pa.int64() and extra.field("sample_id").type == pa.int64(), f"{path}: extra_info.index/sample_id are not int64")
    rows = table.to_pylist()
    check(len(rows) > 0, f"{path}: no rows")
    for i, row in enumerate(rows):
        check(row["prompt"] and row["prompt"][0]["role"] == "user", f"{path} row {i}: prompt {row['prompt']}")
        check(row["reward_model"]["style"] == "rule", f"{path} row {i}: reward_model {row['reward_model']}")
        check_provenance(row["extra_info"], f"{path} row {i} extra_info")
    ds = load_dataset("parquet", data_files=path, split="train")
    check(isinstance(ds[0]["prompt"], list) and isinstance(ds[0]["prompt"][0], dict), f"{path}: datasets reads prompt as {type(ds[0]['prompt'])}")
    return ds


def trainable_snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def assert_all_changed(model, before, label):
    unchanged = [name for name, p in model.named_parameters() if p.requires_grad and name in before and bool((p.detach() == before[name]).all())]
    check(not unchanged, f"{label}: parameters unchanged after one step: {unchanged[:5]}")


def open_model(checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype="float32")
    # The checkpoint's tokenizer must give our ids: byte b is id b, BOS 256 first.
    sample = "12+34=46; héllo"
    ids = tokenizer(sample)["input_ids"]
    check(ids == [256] + list(sample.encode("utf-8")), f"tokenizer ids {ids} differ from the byte tokenizer's")
    check(tokenizer.decode(ids, skip_special_tokens=True) == sample, "tokenizer does not decode back")
    check((tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (256, 257, 258), "special token ids")
    return model, tokenizer


def sft_step(checkpoint, dataset, label, workdir):
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = open_model(checkpoint)
    max_length = model.config.max_position_embeddings
    # One batch of the whole export when it is small, so the reported loss is the mean over all its completion tokens
    # (test/export/datasets.test.ts compares it with the engine's own loss on the same rows).
    args = SFTConfig(
        output_dir=os.path.join(workdir, label), max_steps=1, per_device_train_batch_size=len(dataset) if len(dataset) <= 64 else 8,
        learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, max_length=max_length,
        dataset_num_proc=None, seed=0, bf16=False,  # TRL defaults to bf16 autocast; the check compares fp32 losses
    )
    before = trainable_snapshot(model)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset.remove_columns([c for c in dataset.column_names if c == "provenance"]), processing_class=tokenizer)
    first = trainer.train_dataset[0]
    result = trainer.train()
    loss = result.training_loss
    check(math.isfinite(loss) and loss > 0, f"{label}: loss {loss}")
    assert_all_changed(model, before, label)
    return loss, first


def dpo_step(checkpoint, dataset, workdir):
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = open_model(checkpoint)
    args = DPOConfig(
        output_dir=os.path.join(workdir, "dpo"), max_steps=1, per_device_train_batch_size=len(dataset) if len(dataset) <= 64 else 8,
        learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
        max_length=model.config.max_position_embeddings, seed=0, bf16=False,
    )
    before = trainable_snapshot(model)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset.remove_columns(["provenance"]), processing_class=tokenizer)
    # TRL's tokenization must match ours: BOS prompt, then each side's completion and EOS.
    first, row = trainer.train_dataset[0], dataset[0]
    check(first["prompt_ids"] == [256] + list(row["prompt"].encode("utf-8")), f"dpo: prompt_ids {first['prompt_ids']}")
    for side in ("chosen", "rejected"):
        check(first[f"{side}_ids"] == list(row[side].encode("utf-8")) + [257], f"dpo: {side}_ids {first[side + '_ids']}, expected the completion bytes and EOS")
    result = trainer.train()
    loss = result.training_loss
    # One step from identical policy and reference: the DPO loss is log 2.
    check(math.isfinite(loss) and abs(loss - math.log(2)) < 1e-3, f"dpo: first-step loss {loss}, expected log 2 ≈ 0.6931")
    assert_all_changed(model, before, "dpo")
    return loss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory (config.json, model.safetensors, tokenizer.json)")
    parser.add_argument("--trl-sft")
    parser.add_argument("--trl-dpo")
    parser.add_argument("--openai-chat")
    parser.add_argument("--verl-parquet")
    args = parser.parse_args()
    import torch

    torch.manual_seed(0)
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        if args.verl_parquet:
            results["verl_rows"] = len(check_verl(args.verl_parquet))
        if args.trl_sft:
            ds = check_sft(args.trl_sft)
            loss, first = sft_step(args.checkpoint, ds, "sft", workdir)
            # TRL's prompt-completion tokenization must match ours: BOS prompt completion EOS, loss on the completion only.
            row = ds[0]
            expected = [256] + list((row["prompt"] + row["completion"]).encode("utf-8")) + [257]
            check(first["input_ids"] == expected, f"sft: TRL tokenized row 0 as {first['input_ids']}, expected {expected}")
            trained = [t for t in first["labels"] if t != -100]
            check(trained == list(row["completion"].encode("utf-8")) + [257], f"sft: TRL trains on {trained}, expected the completion and EOS only")
            results["sft_rows"], results["sft_loss"] = len(ds), loss
        if args.openai_chat:
            ds = check_openai(args.openai_chat)
            loss, first = sft_step(args.checkpoint, ds, "openai-chat", workdir)
            messages = ds[0]["messages"]
            expected = [256] + list((messages[0]["content"] + messages[1]["content"]).encode("utf-8")) + [257]
            check(first["input_ids"] == expected, f"openai-chat: the chat template gave {first['input_ids']}, expected {expected}")
            results["openai_chat_rows"], results["openai_chat_sft_loss"] = len(ds), loss
        if args.trl_dpo:
            ds = check_dpo(args.trl_dpo)
            results["dpo_rows"], results["dpo_loss"] = len(ds), dpo_step(args.checkpoint, ds, workdir)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
