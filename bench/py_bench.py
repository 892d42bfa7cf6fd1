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


SHM_BULK_BYTES = 64 << 20


def shm_bulk_child(mod_name, name, go, done):
    # Attaches by name, as the libmp child does with its handle.
    shared_memory = importlib.import_module(mod_name + ".shared_memory")
    shm = shared_memory.SharedMemory(name=name)
    src = b"\x5a" * SHM_BULK_BYTES
    while go.recv_bytes() == b"g":
        shm.buf[:SHM_BULK_BYTES] = src
        done.send_bytes(b"d")
    shm.close()


def bench_shm_bulk(mod, mod_name, repeat):
    """GB/s of 64 MiB written into a SharedMemory by a child, then read by the parent."""
    shared_memory = importlib.import_module(mod_name + ".shared_memory")
    if mod_name == "multiprocess":
        # Debian's multiprocess 0.70.12 calls _posixsubprocess.fork_exec() with Python 3.10's
        # arguments, so its resource tracker cannot start on 3.11 (bench/README.md). The stdlib
        # helper does the same thing with the right arguments; nothing timed goes through it.
        import os
        import multiprocessing.util
        std_spawnv_passfds = multiprocessing.util.spawnv_passfds
        importlib.import_module("multiprocess.util").spawnv_passfds = \
            lambda path, args, fds: std_spawnv_passfds(os.fsencode(path), args, fds)
    shm = shared_memory.SharedMemory(create=True, size=SHM_BULK_BYTES)
    go_r, go_w = mod.Pipe(duplex=False)
    done_r, done_w = mod.Pipe(duplex=False)
    p = mod.get_context("fork").Process(target=shm_bulk_child,
                                        args=(mod_name, shm.name, go_r, done_w))
    p.start()
    dst = bytearray(SHM_BULK_BYTES)
    view = memoryview(dst)

    def one_round():
        t0 = time.perf_counter()
        go_w.send_bytes(b"g")
        done_r.recv_bytes()
        view[:] = shm.buf[:SHM_BULK_BYTES]
        return SHM_BULK_BYTES / 1e9 / (time.perf_counter() - t0)

    one_round()  # warm-up: page faults on both sides
    rates = [one_round() for _ in range(repeat)]
    if dst[0] != 0x5a or dst[-1] != 0x5a:
        raise RuntimeError("shm_bulk read wrong data")
    go_w.send_bytes(b"q")
    p.join()
    shm.close()
    shm.unlink()
    return statistics.median(rates), "GB/s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True,
                    choices=["multiprocessing", "multiprocess"])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    if args.workload == "shm_bulk":
        mod = importlib.import_module(args.impl)
        value, unit = bench_shm_bulk(mod, args.impl, max(1, args.repeat))
        print(f"workload={args.workload} impl={args.impl} "
              f"value={value:.4g} unit={unit}", flush=True)
        return

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
