#!/usr/bin/env python3
"""Checks a GGUF file exported by `autodidact export --format gguf` with llama.cpp's
own reader (the `gguf` Python package), independently of our TypeScript code.

    python scripts/check_gguf.py <model.gguf> <checkpoint-dir>

Reads config.json and model.safetensors of the checkpoint (Hugging Face
LlamaForCausalLM layout) and checks that the GGUF file
  - declares architecture `llama`, GGUF version 3, and the llama.* hyperparameters
    of config.json; a vocabulary of vocab_size tokens with BOS/EOS ids;
  - holds exactly the expected tensors under llama.cpp's names, as F32, with the
    checkpoint's shapes, and every value equal to the checkpoint's — after undoing
    the row permutation of attn_q/attn_k (convert_hf_to_gguf.py's `permute`,
    HF rotate-half rope → llama.cpp adjacent-pair rope), which is itself
    re-derived here rather than trusted.
Prints one line per problem and exits 1 if there is any, 0 otherwise.
"""
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader
from safetensors.numpy import load_file


def field_value(reader: GGUFReader, key: str):
    field = reader.get_field(key)
    if field is None:
        return None
    return field.contents()


def unpermute(weights: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf's permute: (H, D/2, 2) row order back to (H, 2, D/2)."""
    rows = weights.shape[0]
    return weights.reshape(heads, rows // heads // 2, 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def hf_name(gguf_name: str) -> str:
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    if gguf_name in fixed:
        return fixed[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) != 4 or parts[0] != "blk" or parts[3] != "weight":
        raise KeyError(gguf_name)
    inner = {
        "attn_norm": "input_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }[parts[2]]
    return f"model.layers.{parts[1]}.{inner}.weight"


def check(gguf_path: Path, checkpoint: Path) -> list[str]:
    problems: list[str] = []
    config = json.loads((checkpoint / "config.json").read_text())
    weights = load_file(str(checkpoint / "model.safetensors"))
    reader = GGUFReader(str(gguf_path))

    version = field_value(reader, "GGUF.version")
    if version != 3:
        problems.append(f"GGUF.version is {version}, expected 3")
    heads = config["num_attention_heads"]
    expected = {
        "general.architecture": "llama",
        "llama.vocab_size": config["vocab_size"],
        "llama.context_length": config["max_position_embeddings"],
        "llama.embedding_length": config["hidden_size"],
        "llama.block_count": config["num_hidden_layers"],
        "llama.feed_forward_length": config["intermediate_size"],
        "llama.attention.head_count": heads,
        "llama.attention.head_count_kv": config.get("num_key_value_heads", heads),
        "llama.rope.dimension_count": config["hidden_size"] // heads,
        "tokenizer.ggml.bos_token_id": config["bos_token_id"],
        "tokenizer.ggml.eos_token_id": config["eos_token_id"],
    }
    for key, want in expected.items():
        got = field_value(reader, key)
        if got != want:
            problems.append(f"metadata {key} is {got!r}, expected {want!r}")
    for key, want in {"llama.attention.layer_norm_rms_epsilon": config["rms_norm_eps"], "llama.rope.freq_base": config.get("rope_theta", 10000.0)}.items():
        got = field_value(reader, key)
        if got is None or abs(got - want) > 1e-6 * max(1.0, abs(want)):
            problems.append(f"metadata {key} is {got!r}, expected {want!r}")
    tokens = field_value(reader, "tokenizer.ggml.tokens")
    if tokens is None or len(tokens) != config["vocab_size"]:
        problems.append(f"tokenizer.ggml.tokens has {None if tokens is None else len(tokens)} entries, expected vocab_size {config['vocab_size']}")
    types = field_value(reader, "tokenizer.ggml.token_type")
    if types is None or len(types) != config["vocab_size"]:
        problems.append("tokenizer.ggml.token_type is missing or has the wrong length")

    tied = config.get("tie_word_embeddings", False)
    wanted_names = {name for name in weights if not (tied and name == "lm_head.weight") and not name.endswith("rotary_emb.inv_freq")}
    seen: set[str] = set()
    for tensor in reader.tensors:
        try:
            name = hf_name(tensor.name)
        except KeyError:
            problems.append(f"tensor {tensor.name} has no LlamaForCausalLM counterpart")
            continue
        seen.add(name)
        if name not in weights:
            problems.append(f"tensor {tensor.name} ({name}) is not in the checkpoint")
            continue
        if tensor.tensor_type != GGMLQuantizationType.F32:
            problems.append(f"tensor {tensor.name} has type {tensor.tensor_type.name}, expected F32")
            continue
        reference = weights[name]
        data = np.asarray(tensor.data).reshape(tuple(reversed([int(d) for d in tensor.shape])))
        if data.shape != reference.shape:
            problems.append(f"tensor {tensor.name} has shape {data.shape}, the checkpoint's {name} {reference.shape}")
            continue
        if tensor.name.endswith(("attn_q.weight", "attn_k.weight")):
            if np.array_equal(data, reference) and reference.shape[0] // heads > 2:
                problems.append(f"tensor {tensor.name} is not permuted for llama.cpp's rope")
            data = unpermute(data, heads)
        if not np.array_equal(data, reference):
            problems.append(f"tensor {tensor.name} differs from {name}: max |diff| {float(np.max(np.abs(data - reference)))}")
    for name in sorted(wanted_names - seen):
        problems.append(f"checkpoint tensor {name} is missing from the GGUF file")
    if tied and any(t.name == "output.weight" for t in reader.tensors):
        problems.append("tied embeddings, yet the file has output.weight")
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    gguf_path, checkpoint = Path(sys.argv[1]), Path(sys.argv[2])
    problems = check(gguf_path, checkpoint)
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        return 1
    reader = GGUFReader(str(gguf_path))
    print(f"ok: {gguf_path} has {len(reader.tensors)} tensors and {len(reader.fields)} metadata fields matching {checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
