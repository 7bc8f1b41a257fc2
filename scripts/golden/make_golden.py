#!/usr/bin/env python3
"""Writes the tiny NemotronH golden fixtures of nemotron-ts.

Runs on a machine with torch + transformers (>= 5, which implements NemotronH). For every fixture it
  1. draws random weights (seeded) with magnitudes that give well-separated logits,
  2. writes the checkpoint itself in the requested layout (hub: `backbone.*`, one tensor per expert,
     optionally sharded with model.safetensors.index.json; hf5: `model.*`, fused experts) and dtype,
  3. loads it back with `NemotronHForCausalLM.from_pretrained` (HF's own loader and name conversion) in
     float32 on the CPU, checks every loaded tensor equals the file (pitfall P3: re-init after load),
     sets every mixer's `time_step_limit` to (0, inf) (pitfall P2, present in transformers 5.17),
  4. records logits of fixed prompts (one forward, no cache) and greedy continuations computed by full
     recompute at every step (no cache involved), with the top-1/top-2 margin of every greedy step.

Usage: python3 make_golden.py OUT_DIR   (then copy OUT_DIR/* to test/fixtures/models/)
"""
import json
import math
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import NemotronHConfig, NemotronHForCausalLM

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_num_threads(min(8, os.cpu_count() or 1))

CHAR = {"linear_attention": "M", "moe": "E", "full_attention": "*", "mlp": "-"}
LEGACY = {"linear_attention": "mamba", "full_attention": "attention", "moe": "moe", "mlp": "mlp"}
F32_SUFFIXES = ("A_log", "D", "e_score_correction_bias")

BASE = dict(
    vocab_size=512, hidden_size=64, layers=["linear_attention", "moe", "linear_attention", "full_attention",
                                            "moe", "linear_attention", "full_attention", "moe"],
    num_attention_heads=4, num_key_value_heads=2, head_dim=16,
    mamba_num_heads=8, mamba_head_dim=8, ssm_state_size=16, n_groups=2, conv_kernel=4, chunk_size=16,
    n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, moe_shared_expert_intermediate_size=48,
    intermediate_size=40, routed_scaling_factor=2.5, layer_norm_epsilon=1e-5,
)
LEGACY_CFG = dict(
    vocab_size=384, hidden_size=48, layers=["linear_attention", "mlp", "full_attention", "moe", "linear_attention",
                                            "linear_attention", "full_attention", "moe"],
    num_attention_heads=6, num_key_value_heads=2, head_dim=8,
    mamba_num_heads=8, mamba_head_dim=6, ssm_state_size=8, n_groups=4, conv_kernel=4, chunk_size=8,
    n_routed_experts=6, num_experts_per_tok=3, moe_intermediate_size=24, moe_shared_expert_intermediate_size=20,
    intermediate_size=36, routed_scaling_factor=1.5, layer_norm_epsilon=1e-6,
)
FIXTURES = [
    # name, config, weight seed, layout, file dtype, config style, shards, embedding spelling
    dict(name="hub-sharded", cfg=BASE, seed=1, layout="hub", dtype=torch.bfloat16, style="hub", shards=3),
    dict(name="hf5-fused", cfg=BASE, seed=1, layout="hf5", dtype=torch.bfloat16, style="hf5", shards=1),
    dict(name="legacy-f16", cfg=LEGACY_CFG, seed=2, layout="hub", dtype=torch.float16, style="legacy", shards=1,
         embedding="backbone.embedding.weight"),
]
PROMPT_LENGTHS = {"short": 7, "one": 1, "two": 2, "long": 41}
N_CONTINUE = 64


def hf_config(c):
    return NemotronHConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], layers_block_type=list(c["layers"]),
        num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
        head_dim=c["head_dim"], mamba_num_heads=c["mamba_num_heads"], mamba_head_dim=c["mamba_head_dim"],
        ssm_state_size=c["ssm_state_size"], n_groups=c["n_groups"], conv_kernel=c["conv_kernel"],
        chunk_size=c["chunk_size"], n_routed_experts=c["n_routed_experts"],
        num_experts_per_tok=c["num_experts_per_tok"], moe_intermediate_size=c["moe_intermediate_size"],
        moe_shared_expert_intermediate_size=c["moe_shared_expert_intermediate_size"],
        intermediate_size=c["intermediate_size"], routed_scaling_factor=c["routed_scaling_factor"],
        layer_norm_epsilon=c["layer_norm_epsilon"], n_group=1, topk_group=1, norm_topk_prob=True,
        mlp_hidden_act="relu2", mamba_hidden_act="silu", use_conv_bias=True, use_bias=False, mlp_bias=False,
        attention_bias=False, tie_word_embeddings=False, time_step_limit=(0.0, float("inf")),
        max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def config_json(c, style):
    """The config.json text in one of three encodings seen in the wild (model-spec 1.1, 2.1, P8)."""
    d = {
        "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
        "vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"],
        "num_attention_heads": c["num_attention_heads"], "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"], "attention_bias": False, "attention_dropout": 0.0,
        "max_position_embeddings": 4096, "mamba_num_heads": c["mamba_num_heads"],
        "mamba_head_dim": c["mamba_head_dim"], "ssm_state_size": c["ssm_state_size"], "n_groups": c["n_groups"],
        "conv_kernel": c["conv_kernel"], "expand": 2, "chunk_size": c["chunk_size"], "use_conv_bias": True,
        "mamba_proj_bias": False, "use_bias": False, "mamba_hidden_act": "silu", "mamba_ssm_cache_dtype": "float32",
        "time_step_min": 0.001, "time_step_max": 0.1, "time_step_floor": 0.0001,
        "n_routed_experts": c["n_routed_experts"], "n_shared_experts": 1,
        "num_experts_per_tok": c["num_experts_per_tok"], "moe_intermediate_size": c["moe_intermediate_size"],
        "moe_shared_expert_intermediate_size": c["moe_shared_expert_intermediate_size"],
        "intermediate_size": c["intermediate_size"], "routed_scaling_factor": c["routed_scaling_factor"],
        "norm_topk_prob": True, "n_group": 1, "topk_group": 1, "mlp_hidden_act": "relu2", "mlp_bias": False,
        "layer_norm_epsilon": c["layer_norm_epsilon"], "norm_eps": c["layer_norm_epsilon"],
        "residual_in_fp32": False, "rescale_prenorm_residual": True, "hidden_dropout": 0.0,
        "initializer_range": 0.02, "tie_word_embeddings": False, "use_cache": True, "use_mamba_kernels": True,
        "num_logits_to_keep": 1, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "torch_dtype": "bfloat16",
    }
    layers = c["layers"]
    if style == "hub":
        d["hybrid_override_pattern"] = "".join(CHAR[t] for t in layers)
        d["num_hidden_layers"] = len(layers)
        d["time_step_limit"] = "@INF@"
        d["transformers_version"] = "4.55.4"
    elif style == "hf5":
        d["layers_block_type"] = list(layers)
        d["time_step_limit"] = [0.0, {"__float__": "Infinity"}]
        d["transformers_version"] = transformers.__version__
    else:
        d["layers_block_type"] = [LEGACY[t] for t in layers]
        d["num_hidden_layers"] = len(layers)
        d["time_step_limit"] = [0.0, {"__float__": "Infinity"}]
    text = json.dumps(d, indent=2)
    # the hub file carries a bare Infinity token (not strict JSON)
    return text.replace('"@INF@"', "[\n    0.0,\n    Infinity\n  ]")


def init_weights(model, c, seed):
    """Random weights scaled so activations stay O(1) and logits are well separated."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            if name.endswith("A_log"):
                v = torch.log(torch.rand(shape, generator=g) * 15 + 1)
            elif name.endswith(".D"):
                v = torch.randn(shape, generator=g)
            elif name.endswith("dt_bias"):
                dt = torch.exp(torch.rand(shape, generator=g) * (math.log(0.5) - math.log(0.001)) + math.log(0.001))
                v = dt + torch.log(-torch.expm1(-dt))
            elif "norm" in name:
                v = 1.0 + 0.2 * torch.randn(shape, generator=g)
            elif "conv1d.weight" in name:
                v = 0.5 * torch.randn(shape, generator=g)
            elif "conv1d.bias" in name:
                v = 0.2 * torch.randn(shape, generator=g)
            elif "embeddings" in name:
                v = torch.randn(shape, generator=g)
            elif name == "lm_head.weight":
                v = torch.randn(shape, generator=g) * (3.0 / math.sqrt(shape[-1]))
            elif p.dim() >= 2:
                v = torch.randn(shape, generator=g) / math.sqrt(shape[-1])
            else:
                v = 0.1 * torch.randn(shape, generator=g)
            p.copy_(v)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                # large common offset, small spread: the values that collapse in bf16 (pitfall P4)
                b.copy_(8.0 + 0.3 * torch.randn(b.shape, generator=g))


def hf5_state(model, file_dtype):
    """In-memory transformers-5 names (`model.*`, fused experts), cast to the file dtype except the F32 family."""
    out = {}
    for name, t in list(model.state_dict().items()):
        keep = name.endswith(F32_SUFFIXES)
        out[name] = t.detach().to(torch.float32 if keep else file_dtype).contiguous()
    return out


def hub_state(state, embedding_name):
    """transformers-5 names -> hub names: backbone.*, one tensor per expert (model-spec 7.1)."""
    out = {}
    for name, t in state.items():
        hub = "backbone." + name[len("model."):] if name.startswith("model.") else name
        if hub == "backbone.embeddings.weight":
            hub = embedding_name
        if hub.endswith("mixer.experts.up_proj") or hub.endswith("mixer.experts.down_proj"):
            stem, proj = hub.rsplit(".", 1)
            for e in range(t.shape[0]):
                out[f"{stem}.{e}.{proj}.weight"] = t[e].contiguous()
            continue
        out[hub] = t
    return out


def write_shards(state, out_dir, n_shards):
    names = list(state.keys())
    if n_shards == 1:
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    per = math.ceil(len(names) / n_shards)
    weight_map, total = {}, 0
    for s in range(n_shards):
        fname = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: state[n] for n in names[s * per:(s + 1) * per]}
        save_file(part, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = fname
            total += t.numel() * t.element_size()
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def file_tensors(out_dir):
    res = {}
    for fn in sorted(os.listdir(out_dir)):
        if fn.endswith(".safetensors"):
            res.update(load_file(os.path.join(out_dir, fn)))
    return res


def check_loaded(model, state):
    """P3: every parameter HF holds after from_pretrained equals the value we wrote."""
    worst = 0.0
    sd = model.state_dict()
    for name, t in state.items():
        got = sd[name].float()
        worst = max(worst, (got - t.float()).abs().max().item())
    return worst


def greedy(model, prompt, n):
    ids = list(prompt)
    margins = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids]), use_cache=False).logits[0, -1].double()
            top = torch.topk(logits, 2)
            margins.append((top.values[0] - top.values[1]).item())
            ids.append(int(top.indices[0]))
    return ids[len(prompt):], margins


def main():
    out_root = sys.argv[1]
    os.makedirs(out_root, exist_ok=True)
    report = {"torch": torch.__version__, "transformers": transformers.__version__, "fixtures": {}}
    built = {}
    for fx in FIXTURES:
        c = fx["cfg"]
        out_dir = os.path.join(out_root, fx["name"])
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        cfg = hf_config(c)
        key = (id(c), fx["seed"])
        if key not in built:
            torch.manual_seed(fx["seed"])
            m = NemotronHForCausalLM(cfg).float()
            init_weights(m, c, fx["seed"])
            built[key] = m
        src = built[key]
        state = hf5_state(src, fx["dtype"])
        if fx["layout"] == "hub":
            write_shards(hub_state(state, fx.get("embedding", "backbone.embeddings.weight")), out_dir, fx["shards"])
        else:
            write_shards(state, out_dir, fx["shards"])
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            f.write(config_json(c, fx["style"]))
        with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 1, "eos_token_id": [2, 11], "pad_token_id": 0,
                       "_from_model_config": True}, f, indent=2)

        # Reference: HF's own loader on the files we wrote (exercises its name conversion), float32, CPU.
        loaded_by = "from_pretrained"
        try:
            ref = NemotronHForCausalLM.from_pretrained(out_dir, config=cfg, dtype=torch.float32,
                                                       attn_implementation="eager")
        except Exception as e:  # the hf5 layout is not a hub layout: HF may refuse it; same weights anyway
            print(f"[{fx['name']}] from_pretrained failed ({type(e).__name__}: {e}); loading state dict", flush=True)
            loaded_by = "load_state_dict"
            ref = NemotronHForCausalLM(cfg).float()
            ref.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        worst = check_loaded(ref, state)
        if worst != 0.0:
            # transformers 5.17 does not rename the old `backbone.embedding.weight` spelling: it re-initialises the
            # embedding (see the load report). Use the in-memory weights instead and say so in golden.json.
            print(f"[{fx['name']}] {loaded_by} gave tensors differing from the file by {worst}; using load_state_dict",
                  flush=True)
            loaded_by = f"load_state_dict (from_pretrained differed from the file by {worst:.3g})"
            ref = NemotronHForCausalLM(cfg).float()
            ref.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
            worst = check_loaded(ref, state)
        ref.eval()
        limits = set()
        for layer in ref.model.layers:
            if hasattr(layer.mixer, "time_step_limit"):
                limits.add(tuple(float(x) for x in layer.mixer.time_step_limit))
                layer.mixer.time_step_limit = (0.0, float("inf"))
        g = torch.Generator().manual_seed(100 + fx["seed"])
        tensors, prompts, conts = {}, {}, {}
        for pname, plen in PROMPT_LENGTHS.items():
            # pick the first prompt whose greedy continuation is never close to a tie
            for attempt in range(20):
                prompt = torch.randint(16, c["vocab_size"], (plen,), generator=g).tolist()
                cont, margins = greedy(ref, prompt, N_CONTINUE)
                if min(margins) > 2e-3:
                    break
            with torch.no_grad():
                logits = ref(torch.tensor([prompt + cont]), use_cache=False).logits[0].float()
            tensors[f"logits.{pname}"] = logits.contiguous()
            prompts[pname] = prompt
            conts[pname] = {"tokens": cont, "min_margin": min(margins), "attempts": attempt + 1}
        save_file(tensors, os.path.join(out_dir, "golden.safetensors"))
        meta = {
            "reference": f"transformers {transformers.__version__} NemotronHForCausalLM ({loaded_by}), float32, CPU, "
                         "eager attention, mixer time_step_limit forced to (0, inf)",
            "time_step_limit_found_on_mixers": sorted(limits),
            "max_abs_loaded_minus_file": worst,
            "pattern": "".join(CHAR[t] for t in c["layers"]),
            "layout": fx["layout"], "file_dtype": str(fx["dtype"]).replace("torch.", ""),
            "config_style": fx["style"], "shards": fx["shards"],
            "logits": "golden.safetensors logits.<prompt>: [len(prompt)+64, vocab] float32, one forward without cache "
                      "over prompt + greedy continuation",
            "prompts": prompts, "greedy": conts,
        }
        with open(os.path.join(out_dir, "golden.json"), "w") as f:
            json.dump(meta, f, indent=1)
        report["fixtures"][fx["name"]] = {k: meta[k] for k in ("time_step_limit_found_on_mixers",
                                                               "max_abs_loaded_minus_file")}
        report["fixtures"][fx["name"]]["loaded_by"] = loaded_by
        report["fixtures"][fx["name"]]["min_margins"] = {p: conts[p]["min_margin"] for p in conts}
        print(json.dumps(report["fixtures"][fx["name"]]), flush=True)

    # What does save_pretrained itself write for an in-memory model? (settles model-spec Q6 for this version)
    probe = os.path.join(out_root, "_save_pretrained_probe")
    built[(id(BASE), 1)].save_pretrained(probe)
    names = sorted(file_tensors(probe).keys())
    with open(os.path.join(probe, "config.json")) as f:
        report["save_pretrained"] = {"n_tensors": len(names), "first_names": names[:6],
                                     "config_head": f.read()[:3000]}
    shutil.rmtree(probe)
    with open(os.path.join(out_root, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report["save_pretrained"]["first_names"]))


if __name__ == "__main__":
    main()
