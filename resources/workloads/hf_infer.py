"""memoplan's model zoo workload: inference with a Hugging Face transformers model (BERT or GPT-2).

The model is built from its config with random weights (seeded); nothing is downloaded
(HF_HUB_OFFLINE is set). Each serving thread runs its own forward passes on its own input
(random token ids, seeded per thread) under torch.inference_mode(); every forward is one
iteration for memoplan's agent. At the end, a digest of every output (sha256 of the raw bytes
of the last hidden state, per thread) is printed and optionally written to --output, so that
runs under different allocators, recorded or replayed, can be compared bit for bit.

  python3 hf_infer.py --model gpt2 --batch 1 --seq-len 64 --iterations 10 --warmup 2
  python3 hf_infer.py --model bert --compile      # torch.compile (torch 2.x)
  python3 hf_infer.py --model bert --trace        # torch.jit.trace

--model: bert (BERT-base), gpt2 (GPT-2 small), or any other model type that transformers'
AutoConfig.for_model knows, e.g. roberta, distilbert, opt, llama, t5 (its default config;
--layers and --hidden shrink it; an encoder-decoder's decoder reads the same tokens).
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def _transformers():
    try:
        import transformers
    except ImportError as err:
        raise SystemExit("hf_infer.py needs transformers for this Python (%s): %s" % (sys.executable, err))
    return transformers


def build_config(name, args):
    transformers = _transformers()

    if name == "bert":
        config = transformers.BertConfig()  # bert-base-uncased's shape: 12 layers, 768 wide
    elif name == "gpt2":
        config = transformers.GPT2Config()  # gpt2 (small): 12 layers, 768 wide
    else:
        try:
            config = transformers.AutoConfig.for_model(name)
        except (ValueError, KeyError) as err:
            raise SystemExit("unknown model %r (bert, gpt2 or a transformers model type): %s" % (name, err))
    if args.layers:
        for attr in ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_decoder_layers"):
            if isinstance(getattr(config, attr, None), int):
                setattr(config, attr, args.layers)
    if args.hidden:
        if args.hidden % 64:
            raise SystemExit("--hidden must be a multiple of 64 (heads of 64)")
        for attr in ("hidden_size", "n_embd", "d_model", "dim"):
            if isinstance(getattr(config, attr, None), int):
                setattr(config, attr, args.hidden)
        for attr in ("num_attention_heads", "n_head", "n_heads", "num_heads", "num_key_value_heads"):
            if isinstance(getattr(config, attr, None), int):
                setattr(config, attr, args.hidden // 64)
        for attr in ("intermediate_size", "hidden_dim", "ffn_dim", "d_ff"):
            if isinstance(getattr(config, attr, None), int):
                setattr(config, attr, 4 * args.hidden)
        if hasattr(config, "d_kv"):
            config.d_kv = 64
    config.use_cache = False  # one forward per request: no key/value cache kept between them
    return config


def build_model(torch, args):
    transformers = _transformers()

    config = build_config(args.model, args)
    torch.manual_seed(args.seed)
    model = transformers.AutoModel.from_config(config)
    model.eval()
    return model, config


def first(out):
    """The last hidden state, whatever the output's form (a ModelOutput, a dict from a trace, a tuple)."""
    if isinstance(out, (tuple, list)):
        return out[0]
    if isinstance(out, dict):
        return out["last_hidden_state"] if "last_hidden_state" in out else next(iter(out.values()))
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert", help="bert, gpt2, or a transformers model type")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per sequence")
    ap.add_argument("--iterations", type=int, default=10, help="measured iterations per serving thread")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up iterations per serving thread")
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("MEMOPLAN_SERVING_THREADS") or 1),
        help="serving threads, each with its own input (default: $MEMOPLAN_SERVING_THREADS, set by memoplan ab, else 1)",
    )
    ap.add_argument("--intra-op-threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--layers", type=int, default=0, help="override the config's number of layers")
    ap.add_argument("--hidden", type=int, default=0, help="override the config's hidden size")
    ap.add_argument("--seed", type=int, default=0)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--compile", action="store_true", help="torch.compile the model (torch 2.x)")
    mode.add_argument("--trace", action="store_true", help="torch.jit.trace the model")
    ap.add_argument("--output", help="write the output digests as JSON to this file")
    ap.add_argument("--sleep-between", type=float, default=0.0, help="seconds to sleep between iterations")
    args = ap.parse_args(argv)
    for flag in ("batch", "seq_len", "iterations", "threads", "intra_op_threads"):
        if getattr(args, flag) < 1:
            ap.error("--%s must be at least 1" % flag.replace("_", "-"))
    if args.warmup < 0 or args.layers < 0 or args.hidden < 0:
        ap.error("--warmup, --layers and --hidden must be at least 0")

    import torch

    torch.set_num_threads(args.intra_op_threads)
    model, config = build_model(torch, args)
    vocab = int(getattr(config, "vocab_size", 1000) or 1000)
    inputs = []
    for t in range(args.threads):
        g = torch.Generator().manual_seed(args.seed * 1000 + t + 1)
        ids = torch.randint(0, vocab, (args.batch, args.seq_len), generator=g)
        inputs.append((ids, torch.ones_like(ids)))

    if getattr(config, "is_encoder_decoder", False):
        if args.trace:
            raise SystemExit("--trace takes decoder-only or encoder-only models (%s is encoder-decoder)" % args.model)
        call = model

        def model(input_ids, attention_mask):  # noqa: F811  the decoder reads the same tokens
            return call(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=input_ids)

    if args.trace:
        # traced with the token ids alone (positional arguments differ between models)
        with torch.no_grad():
            traced = torch.jit.trace(model, (inputs[0][0],), strict=False)
        run = lambda x: first(traced(x[0]))  # noqa: E731
    elif args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit("--compile needs torch 2.x (this is torch %s)" % torch.__version__)
        compiled = torch.compile(model)
        run = lambda x: first(compiled(input_ids=x[0], attention_mask=x[1]))  # noqa: E731
    else:
        run = lambda x: first(model(input_ids=x[0], attention_mask=x[1]))  # noqa: E731
    if args.trace or args.compile:
        # compile (or run the traced graph's first, optimising call) once, on the main thread,
        # before serving threads call it concurrently
        with torch.inference_mode():
            del_out = run(inputs[0])
            del del_out

    digests = [None] * args.threads
    latencies = [[] for _ in range(args.threads)]
    errors = []

    def serve(t):
        try:
            h = hashlib.sha256()
            with torch.inference_mode():
                for i in range(args.warmup + args.iterations):
                    t0 = time.perf_counter_ns()
                    out = run(inputs[t])
                    latencies[t].append(time.perf_counter_ns() - t0)
                    if i >= args.warmup:
                        h.update(out.contiguous().numpy().tobytes())
                    del out
                    if args.sleep_between:
                        time.sleep(args.sleep_between)
            digests[t] = h.hexdigest()
        except Exception as err:  # reported below, exit non-zero
            errors.append(repr(err))

    threads = [threading.Thread(target=serve, args=(t,), name="serve-%d" % t) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        sys.stderr.write("workload failed: %s\n" % "; ".join(errors))
        return 1
    result = {
        "model": args.model,
        "mode": "compile" if args.compile else "trace" if args.trace else "eager",
        "torch": torch.__version__,
        "batch": args.batch,
        "seq_len": args.seq_len,
        "threads": args.threads,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "digests": digests,
        "median_ms": [sorted(l[args.warmup:])[len(l[args.warmup:]) // 2] / 1e6 for l in latencies],
    }
    print(json.dumps(result))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
