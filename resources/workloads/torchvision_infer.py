"""memoplan's example workload: inference with a torchvision model or a small transformer.

Random weights (seeded), nothing downloaded. Each serving thread runs its own forward passes
on its own input; every forward is one iteration for memoplan's agent. At the end, a digest of
every output (sha256 of the raw bytes, per thread) is printed and optionally written to
--output, so that runs under different allocators can be compared bit for bit.

  python3 torchvision_infer.py --model resnet18 --batch 1 --iterations 10 --warmup 2
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time


def build_model(torch, name, seed):
    torch.manual_seed(seed)
    if name == "transformer":
        layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=512, dropout=0.0, batch_first=True)
        return torch.nn.TransformerEncoder(layer, num_layers=4), (32, 256)
    import torchvision

    ctor = getattr(torchvision.models, name, None)
    if ctor is None or not callable(ctor):
        raise SystemExit("unknown model %r (a torchvision.models name, or 'transformer')" % name)
    try:
        model = ctor(weights=None)
    except TypeError:
        model = ctor(pretrained=False)
    return model, (3, 224, 224)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=10, help="measured iterations per serving thread")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up iterations per serving thread")
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("MEMOPLAN_SERVING_THREADS") or 1),
        help="serving threads, each with its own input (default: $MEMOPLAN_SERVING_THREADS, set by memoplan ab, else 1)",
    )
    ap.add_argument("--intra-op-threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", help="write the output digests as JSON to this file")
    ap.add_argument("--sleep-between", type=float, default=0.0, help="seconds to sleep between iterations")
    args = ap.parse_args(argv)
    for flag in ("batch", "iterations", "threads", "intra_op_threads"):
        if getattr(args, flag) < 1:
            ap.error("--%s must be at least 1" % flag.replace("_", "-"))
    if args.warmup < 0:
        ap.error("--warmup must be at least 0")

    import torch

    torch.set_num_threads(args.intra_op_threads)
    model, shape = build_model(torch, args.model, args.seed)
    model.eval()
    inputs = []
    for t in range(args.threads):
        g = torch.Generator().manual_seed(args.seed * 1000 + t + 1)
        inputs.append(torch.randn((args.batch,) + shape, generator=g))

    digests = [None] * args.threads
    latencies = [[] for _ in range(args.threads)]
    errors = []

    def serve(t):
        try:
            h = hashlib.sha256()
            with torch.no_grad():
                for i in range(args.warmup + args.iterations):
                    t0 = time.perf_counter_ns()
                    out = model(inputs[t])
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
        "batch": args.batch,
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
