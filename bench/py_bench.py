"""Python side of the libmp benchmarks: times multiprocessing / multiprocess.

Run by bench/run in a subprocess (so a crash or hang of one implementation
cannot take the runner down); prints lines in the same format as mp-bench:

    workload=NAME impl=IMPL value=V unit=U
"""
import argparse
import importlib
import statistics
import sys
import time

# Batch size per repeat: fork is cheap, so a bigger batch keeps timer noise
# down; spawn/forkserver start a fresh interpreter per process and are slow.
BATCH = {"fork": 20, "spawn": 10, "forkserver": 10}


def empty():
    # Module-level so spawn/forkserver children can pickle it by reference.
    pass


def start_join(ctx, k):
    """Seconds for k sequential start()+join() of an empty Process."""
    t0 = time.perf_counter()
    for _ in range(k):
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        if p.exitcode != 0:
            # A child that died is not a valid measurement; fail loudly.
            raise RuntimeError(f"child exited with code {p.exitcode}")
    return time.perf_counter() - t0


def bench_start_join(mod, method, repeat):
    ctx = mod.get_context(method)
    k = BATCH[method]
    # Warm-up: imports, the forkserver process itself, page cache.
    start_join(ctx, 2)
    per_proc_ms = [start_join(ctx, k) * 1000 / k for _ in range(repeat)]
    return statistics.median(per_proc_ms), "ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True,
                    choices=["multiprocessing", "multiprocess"])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    prefix = "process_start_join_"
    method = args.workload[len(prefix):]
    if not args.workload.startswith(prefix) or method not in BATCH:
        sys.exit(f"py_bench: no Python counterpart for {args.workload!r}")

    mod = importlib.import_module(args.impl)
    value, unit = bench_start_join(mod, method, max(1, args.repeat))
    print(f"workload={args.workload} impl={args.impl} "
          f"value={value:.4g} unit={unit}", flush=True)


# Required: spawn/forkserver children re-import this file as __mp_main__.
if __name__ == "__main__":
    main()
