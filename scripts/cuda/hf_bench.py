"""HF transformers on the real Nemotron 3 Nano config with random BF16 weights, on the GPU: the side-by-side
column of `nemotron bench` (the same config file, device and run). Writes JSON {"device", "results": {key: value}}
with the keys nemotron bench uses (decode_b<B> tok/s, prefill_<L> tok/s, ttft_<L> ms), after every measurement,
so a time limit still leaves what was measured.

    python3 scripts/cuda/hf_bench.py src/backends/cuda/nano-config.json OUT.json [--batches 1,8] [--prefill 1024]

No mamba-ssm / causal-conv1d kernels are installed on the GPU machine, so this is transformers' own torch path
(eager attention, torch SSD scan, grouped_mm experts) — what a user gets from `pip install transformers`.
"""
import argparse
import json
import math
import time
import traceback

import torch

KIND = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}  # transformers-5 layer names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--prefill", default="1024")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds; later measurements are skipped past it")
    args = ap.parse_args()
    out = {"device": None, "results": {}, "notes": []}
    start = time.time()

    def save():
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)

    try:
        import transformers
        from transformers import NemotronHConfig, NemotronHForCausalLM

        raw = json.load(open(args.config))  # Python's json accepts the bare Infinity of time_step_limit
        pattern = raw.pop("hybrid_override_pattern")
        for k in ("architectures", "num_hidden_layers", "torch_dtype", "transformers_version"):
            raw.pop(k, None)
        raw["layers_block_type"] = [KIND[c] for c in pattern]
        raw["time_step_limit"] = (0.0, float("inf"))
        cfg = NemotronHConfig(**raw)
        out["device"] = torch.cuda.get_device_name(0)
        out["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
        torch.manual_seed(0)
        torch.set_default_dtype(torch.bfloat16)
        t = time.time()
        with torch.device("cuda"):
            model = NemotronHForCausalLM(cfg)
        torch.set_default_dtype(torch.float32)
        model.eval()
        for layer in model.model.layers:  # pitfall P2: transformers 5.17 floors dt at 0.001
            if hasattr(layer.mixer, "time_step_limit"):
                layer.mixer.time_step_limit = (0.0, float("inf"))
        n_params = sum(p.numel() for p in model.parameters())
        out["notes"].append(f"built {n_params / 1e9:.3f} B parameters on the GPU in {time.time() - t:.1f} s")
        save()
        vocab = cfg.vocab_size
        gen = torch.Generator(device="cuda").manual_seed(1)

        def ids(b, n):
            return torch.randint(16, vocab, (b, n), device="cuda", generator=gen)

        with torch.no_grad():
            for L in [int(x) for x in args.prefill.split(",") if x]:
                if time.time() - start > args.budget:
                    out["notes"].append(f"prefill {L} skipped (time budget)")
                    continue
                x = ids(1, L)
                model(x[:, :64], use_cache=False)  # warm-up
                torch.cuda.synchronize()
                t = time.time()
                logits = model(x, use_cache=False, logits_to_keep=1).logits
                int(logits[0, -1].argmax())
                ms = (time.time() - t) * 1000
                out["results"][f"prefill_{L}"] = L / ms * 1000
                out["results"][f"ttft_{L}"] = ms
                save()
            for B in [int(x) for x in args.batches.split(",") if x]:
                if time.time() - start > args.budget:
                    out["notes"].append(f"decode batch {B} skipped (time budget)")
                    continue
                x = ids(B, args.prompt)
                n = args.decode_tokens

                def timed(new):
                    torch.cuda.synchronize()
                    t = time.time()
                    model.generate(x, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True, pad_token_id=0)
                    torch.cuda.synchronize()
                    return time.time() - t

                timed(2)  # warm-up
                one = timed(1)
                full = timed(n + 1)
                out["results"][f"decode_b{B}"] = B * n / (full - one)
                save()
    except Exception as e:  # the table still prints; the error says why this column is empty
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    out["seconds"] = time.time() - start
    save()
    print(json.dumps({k: v for k, v in out.items() if k != "traceback"}, indent=2))


if __name__ == "__main__":
    main()
