#!/usr/bin/env python3
"""Trains the nemotron-ts demo model: a tiny NemotronH (transformers NemotronHForCausalLM) from scratch on the
packed SFT data written by scripts/train/prepare.ts, and saves it in the hub layout.

Run on the GPU machine (torch + transformers 5.17 + tokenizers + safetensors), from the repository root:

    python3 scripts/train/train.py --data .train-data --out OUT_DIR --seconds 270

Steps
  1. Read the packs (meta.json, packs.jsonl, input_ids.bin[.gz], loss_mask.bin[.gz]) and validate them as
     src/training/pack-io.ts does (sizes, sha256, offsets, seq_start_id, token range, shifted mask).
  2. Cross-check the tokenizer: Python `tokenizers` must encode the check texts to the ids nemotron-ts produced.
  3. Document boundaries: transformers' NemotronH cannot restart the Mamba conv/SSM state inside a row (its
     torch path takes no seq_idx), so packs are unpacked into their conversations (seq_start_id) and each
     training row holds ONE conversation, right-padded. Causality makes the padding invisible to real tokens,
     so attention never crosses documents and every conversation starts from a zero Mamba state.
  4. Smoke test first (fail fast): two steps, save, reload with from_pretrained, compare logits paths.
  5. Train for a wall-clock budget (AdamW, warmup then constant then linear decay by elapsed time), loss on
     the shifted assistant mask only, per-token mean. MoE routers are kept balanced the aux-loss-free way:
     after each step every layer's e_score_correction_bias moves by +-u towards equal expert loads.
  6. Save: hub names (backbone.*, one tensor per expert), BF16 with A_log / D / e_score_correction_bias in
     F32, shards under 15 MB, config.json (hybrid_override_pattern, time_step_limit [0.0, Infinity]),
     generation_config.json (eos [2, 11]).
  7. Reference: reload with from_pretrained in float32 on the CPU (eager attention, every mixer's
     time_step_limit set to (0, inf): transformers 5.17 floors dt at time_step_min), check the loaded tensors
     equal the file, and write logits of held-out sequences and greedy continuations of held-out prompts.

`--check-packs DIR` only validates a pack directory and prints a JSON summary (used by npm test).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import sys
import tarfile
import time
import traceback

import numpy as np

# The demo model's shape. Pattern: Mamba-2 (M), MoE (E), attention (*), as in Nemotron 3 Nano.
ARCH = dict(
    pattern="MEM*EMEM*E", hidden_size=256,
    num_attention_heads=4, num_key_value_heads=2, head_dim=64,
    mamba_num_heads=12, mamba_head_dim=32, ssm_state_size=64, n_groups=2, conv_kernel=4, chunk_size=64,
    n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=256, moe_shared_expert_intermediate_size=512,
    routed_scaling_factor=2.5, layer_norm_epsilon=1e-5,
)
LAYER_TYPES = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}
F32_SUFFIXES = ("A_log", "D", "e_score_correction_bias")
PACK_FORMAT, PACK_VERSION = "nemotron-ts/sft-packs", 1
SHARD_BYTES = 15_000_000


# ----------------------------------------------------------------------------------------------- pack files

class PackFormatError(Exception):
    pass


def _read_file(data_dir, entry):
    """Bytes of a pack file (a `.gz` copy is accepted), checked against meta.json's size and sha256."""
    path = os.path.join(data_dir, entry["file"])
    if os.path.exists(path):
        with open(path, "rb") as f:
            buf = f.read()
    elif os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            buf = f.read()
    else:
        raise PackFormatError(f"{path}: missing")
    if "bytes" in entry and len(buf) != entry["bytes"]:
        raise PackFormatError(f"{path}: has {len(buf)} bytes, meta.json says {entry['bytes']}")
    if hashlib.sha256(buf).hexdigest() != entry["sha256"]:
        raise PackFormatError(f"{path}: sha256 does not match meta.json (file corrupted or replaced)")
    return buf


def read_packs(data_dir):
    """Returns (meta, packs), each pack a dict of input_ids, loss_mask (numpy) and seq_start_id (list)."""
    meta_path = os.path.join(data_dir, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise PackFormatError(f"{meta_path}: {e}")
    if meta.get("format") != PACK_FORMAT or meta.get("version") != PACK_VERSION:
        raise PackFormatError(f"{meta_path}: not a {PACK_FORMAT} v{PACK_VERSION} directory")
    dtype = {"uint16": np.uint16, "int32": np.int32}.get(meta["input_ids"]["dtype"])
    if dtype is None:
        raise PackFormatError(f"{meta_path}: unsupported input_ids dtype {meta['input_ids']['dtype']}")
    ids = np.frombuffer(_read_file(data_dir, meta["input_ids"]), dtype=np.dtype(dtype).newbyteorder("<"))
    mask = np.frombuffer(_read_file(data_dir, meta["loss_mask"]), dtype=np.uint8)
    index = _read_file(data_dir, meta["index"]).decode("utf-8").splitlines()
    n, size, vocab = meta["num_tokens"], meta["pack_size"], meta["vocab_size"]
    if len(ids) != n or len(mask) != n:
        raise PackFormatError(f"{data_dir}: {len(ids)} ids / {len(mask)} mask entries, meta.json says {n}")
    if len(index) != meta["num_packs"]:
        raise PackFormatError(f"{data_dir}/packs.jsonl: {len(index)} packs, meta.json says {meta['num_packs']}")
    if n and (int(ids.max()) >= vocab):
        raise PackFormatError(f"{data_dir}: token id {int(ids.max())} outside the vocabulary [0, {vocab})")
    if n and int(mask.max()) > 1:
        raise PackFormatError(f"{data_dir}: loss_mask values must be 0 or 1")
    packs, offset = [], 0
    for k, line in enumerate(index):
        row = json.loads(line)
        length, starts = row["length"], row["seq_start_id"]
        if row["offset"] != offset or not (1 <= length <= size) or offset + length > n:
            raise PackFormatError(f"packs.jsonl pack {k}: bad offset/length")
        if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= length:
            raise PackFormatError(f"packs.jsonl pack {k}: seq_start_id must start at 0 and increase inside the pack")
        m = mask[offset:offset + length]
        for s, e in zip(starts, starts[1:] + [length]):
            if m[e - 1] != 0:
                raise PackFormatError(f"packs.jsonl pack {k}: loss_mask set on the last token of a sequence")
        packs.append({"input_ids": ids[offset:offset + length], "loss_mask": m, "seq_start_id": starts})
        offset += length
    if offset != n:
        raise PackFormatError(f"{data_dir}: packs cover {offset} tokens, meta.json says {n}")
    return meta, packs


def documents(packs):
    """The conversations of the packs, each (ids, shifted mask), in pack order."""
    docs = []
    for p in packs:
        starts = p["seq_start_id"] + [len(p["input_ids"])]
        for s, e in zip(starts, starts[1:]):
            docs.append((p["input_ids"][s:e].astype(np.int64), p["loss_mask"][s:e].astype(np.float32)))
    return docs


def make_batches(lengths, max_tokens, rng):
    """Index lists of documents grouped by similar length, each with (rows x longest) <= max_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches, cur, longest = [], [], 0
    for i in order:
        L = lengths[i]
        if cur and max(longest, L) * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, L)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def pad_batch(docs, idx, pad_id=0):
    L = max(len(docs[i][0]) for i in idx)
    ids = np.full((len(idx), L), pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), L), dtype=np.float32)
    for r, i in enumerate(idx):
        a, m = docs[i]
        ids[r, :len(a)] = a
        mask[r, :len(m)] = m
    return ids, mask


# ---------------------------------------------------------------------------------------------- checkpoint

def hub_name(name):
    """transformers-5 in-memory name -> hub name (model-spec 7.1); experts are split by the caller."""
    return "backbone." + name[len("model."):] if name.startswith("model.") else name


def hub_state(state):
    """{in-memory name: array} -> {hub name: array}, fused experts [E, ...] split into one tensor per expert."""
    out = {}
    for name, t in state.items():
        hub = hub_name(name)
        if hub.endswith("mixer.experts.up_proj") or hub.endswith("mixer.experts.down_proj"):
            stem, proj = hub.rsplit(".", 1)
            for e in range(t.shape[0]):
                out[f"{stem}.{e}.{proj}.weight"] = t[e]
            continue
        out[hub] = t
    return out


def config_dict(arch, vocab_size):
    pattern = arch["pattern"]
    d = {
        "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
        "vocab_size": vocab_size, "hidden_size": arch["hidden_size"],
        "hybrid_override_pattern": pattern, "num_hidden_layers": len(pattern),
        "num_attention_heads": arch["num_attention_heads"], "num_key_value_heads": arch["num_key_value_heads"],
        "head_dim": arch["head_dim"], "attention_bias": False, "attention_dropout": 0.0,
        "max_position_embeddings": 8192, "mamba_num_heads": arch["mamba_num_heads"],
        "mamba_head_dim": arch["mamba_head_dim"], "ssm_state_size": arch["ssm_state_size"],
        "n_groups": arch["n_groups"], "conv_kernel": arch["conv_kernel"], "expand": 2,
        "chunk_size": arch["chunk_size"], "use_conv_bias": True, "mamba_proj_bias": False, "use_bias": False,
        "mamba_hidden_act": "silu", "mamba_ssm_cache_dtype": "float32",
        "time_step_min": 0.001, "time_step_max": 0.1, "time_step_floor": 0.0001, "time_step_limit": "@INF@",
        "n_routed_experts": arch["n_routed_experts"], "n_shared_experts": 1,
        "num_experts_per_tok": arch["num_experts_per_tok"], "moe_intermediate_size": arch["moe_intermediate_size"],
        "moe_shared_expert_intermediate_size": arch["moe_shared_expert_intermediate_size"],
        "intermediate_size": arch["moe_intermediate_size"], "routed_scaling_factor": arch["routed_scaling_factor"],
        "norm_topk_prob": True, "n_group": 1, "topk_group": 1, "mlp_hidden_act": "relu2", "mlp_bias": False,
        "layer_norm_epsilon": arch["layer_norm_epsilon"], "norm_eps": arch["layer_norm_epsilon"],
        "residual_in_fp32": False, "rescale_prenorm_residual": True, "hidden_dropout": 0.0,
        "initializer_range": 0.02, "tie_word_embeddings": False, "use_cache": True, "use_mamba_kernels": True,
        "num_logits_to_keep": 1, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "torch_dtype": "bfloat16",
    }
    return d


def config_text(d):
    """config.json text with the bare Infinity token the hub files carry (not strict JSON; model-spec P8)."""
    return json.dumps(d, indent=2).replace('"@INF@"', "[\n    0.0,\n    Infinity\n  ]") + "\n"


GENERATION_CONFIG = {"bos_token_id": 1, "eos_token_id": [2, 11], "pad_token_id": 0, "_from_model_config": True}


def shard_plan(sizes, limit):
    """Groups tensor names (in order) into shards of at most `limit` bytes (a bigger tensor gets its own)."""
    shards, cur, used = [], [], 0
    for name, n in sizes:
        if cur and used + n > limit:
            shards.append(cur)
            cur, used = [], 0
        cur.append(name)
        used += n
    if cur:
        shards.append(cur)
    return shards


# ---------------------------------------------------------------------------------------------- torch parts

def hf_config(arch, vocab_size):
    from transformers import NemotronHConfig
    return NemotronHConfig(
        vocab_size=vocab_size, hidden_size=arch["hidden_size"],
        layers_block_type=[LAYER_TYPES[c] for c in arch["pattern"]],
        num_attention_heads=arch["num_attention_heads"], num_key_value_heads=arch["num_key_value_heads"],
        head_dim=arch["head_dim"], mamba_num_heads=arch["mamba_num_heads"], mamba_head_dim=arch["mamba_head_dim"],
        ssm_state_size=arch["ssm_state_size"], n_groups=arch["n_groups"], conv_kernel=arch["conv_kernel"],
        chunk_size=arch["chunk_size"], n_routed_experts=arch["n_routed_experts"],
        num_experts_per_tok=arch["num_experts_per_tok"], moe_intermediate_size=arch["moe_intermediate_size"],
        moe_shared_expert_intermediate_size=arch["moe_shared_expert_intermediate_size"],
        intermediate_size=arch["moe_intermediate_size"], routed_scaling_factor=arch["routed_scaling_factor"],
        layer_norm_epsilon=arch["layer_norm_epsilon"], n_group=1, topk_group=1, norm_topk_prob=True,
        mlp_hidden_act="relu2", mamba_hidden_act="silu", use_conv_bias=True, use_bias=False, mlp_bias=False,
        attention_bias=False, tie_word_embeddings=False, time_step_limit=(0.0, float("inf")),
        max_position_embeddings=8192, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def fix_dt_limit(model):
    """transformers 5.17 clamps dt at time_step_min; NVIDIA's kernels, vLLM and nemotron-ts use (0, inf)."""
    found = set()
    for layer in model.model.layers:
        if hasattr(layer.mixer, "time_step_limit"):
            found.add(tuple(float(x) for x in layer.mixer.time_step_limit))
            layer.mixer.time_step_limit = (0.0, float("inf"))
    return sorted(found)


class RouterBalancer:
    """Aux-loss-free balancing: counts each router's expert choices and nudges e_score_correction_bias."""

    def __init__(self, model, k, rate):
        import torch
        self.k, self.rate, self.loads, self.gates = k, rate, {}, []
        for i, layer in enumerate(model.model.layers):
            gate = getattr(layer.mixer, "gate", None)
            if gate is not None and hasattr(gate, "e_score_correction_bias"):
                self.gates.append((i, gate))
                gate.register_forward_hook(self._hook(i))
        self.torch = torch

    def _hook(self, i):
        def hook(module, inputs, output):
            if not module.training:
                return
            with self.torch.no_grad():
                n_exp = module.e_score_correction_bias.shape[0]
                if isinstance(output, (tuple, list)):  # transformers 5.17: (logits, topk_weights, topk_indices)
                    top = output[-1].reshape(-1)
                else:
                    scores = output.detach().float().sigmoid() + module.e_score_correction_bias
                    top = scores.topk(self.k, dim=-1).indices.reshape(-1)
                counts = self.torch.bincount(top.long(), minlength=n_exp).float()
                self.loads[i] = self.loads.get(i, 0) + counts
        return hook

    def step(self):
        with self.torch.no_grad():
            for i, gate in self.gates:
                load = self.loads.get(i)
                if load is None:
                    continue
                gate.e_score_correction_bias += self.rate * self.torch.sign(load.mean() - load)
        self.loads = {}

    def imbalance(self):
        """max load / mean load per router over the counts gathered so far."""
        return {i: round(float(l.max() / l.mean()), 3) for i, l in self.loads.items()}


def lr_at(frac, step, peak, warmup, decay_from=0.7, floor=0.05):
    """Warmup by steps, then constant, then linear decay over the last (1 - decay_from) of the time budget."""
    w = min(1.0, (step + 1) / warmup)
    if frac <= decay_from:
        return peak * w
    return peak * w * max(floor, 1.0 - (frac - decay_from) / (1.0 - decay_from))


def masked_loss(model, ids, mask):
    """Per-token mean cross-entropy on the positions whose shifted mask is set (logits only there)."""
    import torch.nn.functional as F
    h = model.model(input_ids=ids, use_cache=False).last_hidden_state  # [B, L, H]
    sel = mask[:, :-1] > 0
    logits = model.lm_head(h[:, :-1][sel]).float()  # [N, V]
    return F.cross_entropy(logits, ids[:, 1:][sel]), int(sel.sum())


def export_state(model):
    """In-memory tensors cast to the file dtypes: BF16, and F32 for the A_log / D / router-bias family."""
    import torch
    out = {}
    for name, t in model.state_dict().items():
        keep = name.endswith(F32_SUFFIXES)
        out[name] = t.detach().to("cpu", torch.float32 if keep else torch.bfloat16).contiguous()
    return out


def save_checkpoint(model, out_dir, vocab_size):
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    state = export_state(model)
    hub = hub_state(state)
    names = list(hub.keys())
    plan = shard_plan([(n, hub[n].numel() * hub[n].element_size()) for n in names], SHARD_BYTES)
    if len(plan) == 1:
        save_file({n: hub[n] for n in plan[0]}, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map, total = {}, 0
        for s, part in enumerate(plan):
            fname = f"model-{s + 1:05d}-of-{len(plan):05d}.safetensors"
            save_file({n: hub[n] for n in part}, os.path.join(out_dir, fname), metadata={"format": "pt"})
            for n in part:
                weight_map[n] = fname
                total += hub[n].numel() * hub[n].element_size()
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(config_text(config_dict(ARCH, vocab_size)))
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(GENERATION_CONFIG, f, indent=2)
    return state


def load_reference(out_dir, state, cfg):
    """from_pretrained in float32 on the CPU (HF's own loader and name conversion), checked against the file:
    returns (model, max |loaded - saved| over all tensors, dt limits found, names missing after loading)."""
    import torch
    from transformers import NemotronHForCausalLM
    ref = NemotronHForCausalLM.from_pretrained(out_dir, config=cfg, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    sd = ref.state_dict()
    missing = sorted(n for n in state if n not in sd)
    worst = max((float((sd[n].float() - t.float()).abs().max()) for n, t in state.items() if n in sd), default=float("inf"))
    if missing:
        worst = float("inf")
    limits = fix_dt_limit(ref)
    return ref, worst, limits, missing


def greedy(model, prompt, n, stop):
    import torch
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids]), use_cache=False).logits[0, -1].double()
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            ids.append(int(top.indices[0]))
            if ids[-1] in stop:
                break
    return ids[len(prompt):], margins


def tokenizer_check(repo, data_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(repo, "models/default/tokenizer.json"))
    with open(os.path.join(data_dir, "tokenizer-check.json")) as f:
        cases = json.load(f)
    bad = []
    for i, c in enumerate(cases):
        got = tok.encode(c["text"], add_special_tokens=False).ids
        if got != c["ids"]:
            j = next((k for k in range(min(len(got), len(c["ids"]))) if got[k] != c["ids"][k]), min(len(got), len(c["ids"])))
            bad.append({"case": i, "first_diff": j, "python": got[j:j + 8], "nemotron_ts": c["ids"][j:j + 8]})
    return {"cases": len(cases), "mismatches": len(bad), "details": bad[:5]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".train-data")
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--seconds", type=float, default=270.0)
    ap.add_argument("--max-tokens", type=int, default=65536, help="padded tokens per batch")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--check-packs", default=None)
    args = ap.parse_args()

    if args.check_packs:
        try:
            meta, packs = read_packs(args.check_packs)
        except PackFormatError as e:
            print(json.dumps({"ok": False, "error": str(e)}))
            sys.exit(2)
        docs = documents(packs)
        print(json.dumps({"ok": True, "packs": len(packs), "sequences": len(docs), "tokens": int(sum(len(d[0]) for d in docs)),
                          "loss_tokens": int(sum(d[1].sum() for d in docs)), "first": [int(x) for x in docs[0][0][:8]]}))
        return

    t_start = time.time()
    repo = os.getcwd()
    os.makedirs(args.out, exist_ok=True)
    log_lines = []

    def log(msg):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        log_lines.append(line)

    report = {"arch": ARCH}
    try:
        import torch
        import transformers
        report.update(torch=torch.__version__, transformers=transformers.__version__)
        log(f"torch {torch.__version__}, transformers {transformers.__version__}, cuda {torch.cuda.is_available()}")
        meta, packs = read_packs(os.path.join(args.data, "packs"))
        vocab = meta["vocab_size"]
        docs = documents(packs)
        log(f"packs: {len(packs)} x {meta['pack_size']}, {len(docs)} conversations, {meta['num_tokens']} tokens")
        try:
            report["tokenizer_check"] = tokenizer_check(repo, args.data)
        except Exception as e:  # not fatal: the model does not depend on it
            report["tokenizer_check"] = {"error": repr(e)}
        log(f"tokenizer check: {report['tokenizer_check']}")

        rng = np.random.default_rng(args.seed)
        perm = rng.permutation(len(docs))
        n_val = max(8, len(docs) // 50)
        val_docs = [docs[i] for i in perm[:n_val]]
        train_docs = [docs[i] for i in perm[n_val:]]

        torch.manual_seed(args.seed)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        from transformers import NemotronHForCausalLM
        cfg = hf_config(ARCH, vocab)
        model = NemotronHForCausalLM(cfg).float()
        report["dt_limits_found"] = fix_dt_limit(model)
        model.to(dev).train()
        n_params = sum(p.numel() for p in model.parameters())
        report["parameters"] = n_params
        log(f"model: {n_params / 1e6:.2f} M parameters, pattern {ARCH['pattern']}, device {dev}")

        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
        balancer = RouterBalancer(model, ARCH["num_experts_per_tok"], rate=1e-3)

        # -- smoke test: the full path on a small batch, including save + from_pretrained (fail fast)
        small = list(range(min(4, len(train_docs))))
        ids_np, mask_np = pad_batch(train_docs, small)
        ids_t, mask_t = torch.from_numpy(ids_np).to(dev), torch.from_numpy(mask_np).to(dev)
        with torch.no_grad():
            full = model(ids_t, use_cache=False).logits[:, :-1][mask_t[:, :-1] > 0]
            h = model.model(input_ids=ids_t, use_cache=False).last_hidden_state
            part = model.lm_head(h[:, :-1][mask_t[:, :-1] > 0]).float()
            report["smoke_logits_path_max_diff"] = float((full - part).abs().max())
        for _ in range(2):
            loss, _n = masked_loss(model, ids_t, mask_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            balancer.step()
        smoke_dir = os.path.join("/tmp", "demo-smoke")
        st = save_checkpoint(model, smoke_dir, vocab)
        _, worst, _, missing = load_reference(smoke_dir, st, cfg)
        report["smoke_reload_max_abs"] = worst
        report["smoke_missing_after_reload"] = missing[:10]
        try:  # can transformers read the hub-style config.json we write? (informational; nemotron-ts reads it itself)
            from transformers import AutoConfig
            c2 = AutoConfig.from_pretrained(smoke_dir)
            report["hf_reads_config_json"] = {"ok": True, "layers_block_type": list(getattr(c2, "layers_block_type", []))}
        except Exception as e:
            report["hf_reads_config_json"] = {"ok": False, "error": repr(e)[:300]}
        log(f"smoke test ok: loss {float(loss):.3f}, logits paths differ by {report['smoke_logits_path_max_diff']:.2e}, reload max |diff| {worst}")
        if worst != 0.0:
            raise RuntimeError(f"from_pretrained does not give back the saved tensors (max |diff| {worst})")

        # -- training
        train_lengths = [len(d[0]) for d in train_docs]
        budget = args.seconds
        t0 = time.time()
        step, epoch, seen_tokens, seen_loss_tokens = 0, 0, 0, 0
        losses = []
        done = False
        while not done:
            batches = make_batches(train_lengths, args.max_tokens, rng)
            for idx in batches:
                frac = (time.time() - t0) / budget
                if frac >= 1.0:
                    done = True
                    break
                lr = lr_at(frac, step, args.lr, warmup=40)
                for g in opt.param_groups:
                    g["lr"] = lr
                ids_np, mask_np = pad_batch(train_docs, idx)
                ids_t = torch.from_numpy(ids_np).to(dev, non_blocking=True)
                mask_t = torch.from_numpy(mask_np).to(dev, non_blocking=True)
                loss, n_tok = masked_loss(model, ids_t, mask_t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                imb = balancer.imbalance() if step % 100 == 0 else None
                balancer.step()
                step += 1
                seen_tokens += int(ids_np.size)
                seen_loss_tokens += n_tok
                if step % 25 == 0 or step == 1:
                    lv = float(loss)
                    losses.append((step, round(time.time() - t0, 1), lv))
                    log(f"step {step} epoch {epoch} loss {lv:.4f} lr {lr:.2e} gnorm {float(gn):.2f} "
                        f"tok/s {seen_tokens / (time.time() - t0):.0f}" + (f" router max/mean {imb}" if imb else ""))
            epoch += 1
        train_seconds = time.time() - t0
        model.eval()
        with torch.no_grad():
            tot, cnt = 0.0, 0
            for idx in make_batches([len(d[0]) for d in val_docs], args.max_tokens, rng):
                ids_np, mask_np = pad_batch(val_docs, idx)
                l, n_tok = masked_loss(model, torch.from_numpy(ids_np).to(dev), torch.from_numpy(mask_np).to(dev))
                tot += float(l) * n_tok
                cnt += n_tok
        report["training"] = {
            "steps": step, "epochs_started": epoch, "seconds": round(train_seconds, 1),
            "padded_tokens_seen": seen_tokens, "loss_tokens_seen": seen_loss_tokens,
            "final_train_loss": losses[-1][2] if losses else None, "val_loss": tot / max(cnt, 1),
            "val_conversations": len(val_docs), "lr_peak": args.lr, "max_tokens_per_batch": args.max_tokens,
            "loss_curve": losses,
        }
        log(f"trained {step} steps in {train_seconds:.0f}s; val loss {report['training']['val_loss']:.4f}")

        # -- save
        model_dir = os.path.join(args.out, "model")
        state = save_checkpoint(model.cpu(), model_dir, vocab)
        log(f"saved {sorted(os.listdir(model_dir))}")

        # -- reference logits and greedy continuations (float32, CPU, from the saved files)
        torch.set_num_threads(min(16, os.cpu_count() or 1))
        if dev == "cuda":
            report["training"]["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        ref, worst, limits, missing = load_reference(model_dir, state, cfg)
        report["reference"] = {"max_abs_loaded_minus_file": worst, "time_step_limit_found_on_mixers": limits, "missing": missing[:10]}
        with open(os.path.join(args.data, "heldout.json")) as f:
            held = json.load(f)
        from safetensors.torch import save_file
        tensors = {}
        for k, s in enumerate(held["sequences"][:3]):
            ids = s["ids"][:256]
            with torch.no_grad():
                tensors[f"logits.{k}"] = ref(torch.tensor([ids]), use_cache=False).logits[0].float().contiguous()
            tensors[f"ids.{k}"] = torch.tensor(ids, dtype=torch.int32)
        conts = []
        for p in held.get("prompts", [])[:3]:
            toks, margins = greedy(ref, p["ids"], 32, {2, 11})
            conts.append({"id": p["id"], "prompt": p["ids"], "tokens": toks, "min_margin": min(margins) if margins else None})
        report["reference"]["greedy"] = conts
        save_file(tensors, os.path.join(args.out, "reference-logits.safetensors"))
        log("reference logits written")
    except Exception:
        log("FAILED:\n" + traceback.format_exc())
        report["error"] = traceback.format_exc()
    finally:
        report["wall_seconds"] = round(time.time() - t_start, 1)
        with open(os.path.join(args.out, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        with open(os.path.join(args.out, "train-log.txt"), "w") as f:
            f.write("\n".join(log_lines) + "\n")
        # small files travel together (the device run returns at most 8 files)
        with tarfile.open(os.path.join(args.out, "small.tar"), "w") as tar:
            for name in ("report.json", "train-log.txt"):
                tar.add(os.path.join(args.out, name), arcname=name)
            model_dir = os.path.join(args.out, "model")
            if os.path.isdir(model_dir):
                for name in sorted(os.listdir(model_dir)):
                    if not name.endswith(".safetensors"):
                        tar.add(os.path.join(model_dir, name), arcname="model/" + name)
        if "error" in report:
            sys.exit(1)


if __name__ == "__main__":
    main()
