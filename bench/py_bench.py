"""Python side of the libmp benchmarks: times multiprocessing / multiprocess.

Run by bench/run in a subprocess (so a crash or hang of one implementation
cannot take the runner down); prints lines in the same format as mp-bench:

    workload=NAME impl=IMPL value=V unit=U
"""
import argparse
import importlib
import os
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


# --- queues: one producer process -> the parent consuming ------------------------------------

QUEUE_ITEMS = 20000


def queue_producer(q, n, item):
    for _ in range(n):
        q.put(item)


def joinable_worker(q, n):
    for _ in range(n):
        q.get()
        q.task_done()


def queue_throughput(mod, item, repeat):
    """Items per second through a Queue from a child process to the parent."""
    rates = []
    for _ in range(repeat):
        q = mod.Queue()
        p = mod.Process(target=queue_producer, args=(q, QUEUE_ITEMS, item))
        t0 = time.perf_counter()
        p.start()
        for _ in range(QUEUE_ITEMS):
            q.get()
        rates.append(QUEUE_ITEMS / (time.perf_counter() - t0))
        p.join()
    return statistics.median(rates), "items/s"


def joinable_queue(mod, repeat):
    """Items per second through a JoinableQueue, each acknowledged with task_done()."""
    rates = []
    for _ in range(repeat):
        q = mod.JoinableQueue()
        p = mod.Process(target=joinable_worker, args=(q, QUEUE_ITEMS))
        p.start()
        t0 = time.perf_counter()
        for i in range(QUEUE_ITEMS):
            q.put(i)
        q.join()
        rates.append(QUEUE_ITEMS / (time.perf_counter() - t0))
        p.join()
    return statistics.median(rates), "items/s"


# Pipe workloads (fork, Python's default on Linux before 3.14 and multiprocess's). The child
# functions are module-level so they would also work under spawn.
PINGPONG_MESSAGE = b"x" * 64
PINGPONG_BATCH = 20000
BULK_MESSAGE = bytes(range(256)) * 4096   # 1 MiB
BULK_BATCH = 200


def pipe_echo(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            return
        conn.send_bytes(m)


def pipe_sink(conn):
    while True:
        for _ in range(BULK_BATCH):
            if not conn.recv_bytes():
                return
        conn.send_bytes(b"ok")


def start_pipe_child(mod, target):
    ctx = mod.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=target, args=(child,))
    p.start()
    child.close()
    return p, parent


def stop_pipe_child(p, conn):
    conn.send_bytes(b"")
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"child exited with code {p.exitcode}")


def pingpong_us(conn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        conn.send_bytes(PINGPONG_MESSAGE)
        conn.recv_bytes()
    return (time.perf_counter() - t0) * 1e6 / n


def bench_pipe_pingpong(mod, repeat):
    p, conn = start_pipe_child(mod, pipe_echo)
    pingpong_us(conn, 1000)
    values = [pingpong_us(conn, PINGPONG_BATCH) for _ in range(repeat)]
    stop_pipe_child(p, conn)
    return statistics.median(values), "us"


def bench_pipe_pingpong_1cpu(mod, repeat):
    # Parent and child on one CPU: see pipe_pingpong in mp-bench.c.
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        return bench_pipe_pingpong(mod, repeat)
    finally:
        os.sched_setaffinity(0, saved)


def bulk_gbps(conn):
    t0 = time.perf_counter()
    for _ in range(BULK_BATCH):
        conn.send_bytes(BULK_MESSAGE)
    conn.recv_bytes()
    return BULK_BATCH * len(BULK_MESSAGE) / (time.perf_counter() - t0) / 1e9


def bench_pipe_bulk_1mib(mod, repeat):
    p, conn = start_pipe_child(mod, pipe_sink)
    bulk_gbps(conn)
    values = [bulk_gbps(conn) for _ in range(repeat)]
    stop_pipe_child(p, conn)
    return statistics.median(values), "GB/s"


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


# --- pools: the same workloads as mp-bench.c (2 workers, the default start method) ----------

POOL_WORKERS = 2
POOL_MAP_ITEMS = 1000000
POOL_CS1_ITEMS = 20000
POOL_APPLY_TASKS = 20000
POOL_CPU_TASKS = 400
POOL_CPU_TASK_S = 0.002


def pool_square(x):
    return x * x


def pool_spin(x):
    end = time.perf_counter() + POOL_CPU_TASK_S
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def pool_map_rate(mod, n, chunksize, repeat):
    rates = []
    items = list(range(n))
    with mod.Pool(POOL_WORKERS) as pool:
        pool.map(pool_square, range(min(n, 1000)), chunksize)
        for _ in range(repeat):
            t0 = time.perf_counter()
            pool.map(pool_square, items, chunksize)
            rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), "items/s"


def pool_apply_async(mod, repeat):
    rates = []
    with mod.Pool(POOL_WORKERS) as pool:
        for r in range(-1, repeat):
            n = 1000 if r < 0 else POOL_APPLY_TASKS
            t0 = time.perf_counter()
            results = [pool.apply_async(pool_square, (i,)) for i in range(n)]
            for res in results:
                res.get()
            if r >= 0:
                rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), "tasks/s"


def pool_map_cpu(mod, repeat):
    t0 = time.perf_counter()
    for i in range(POOL_CPU_TASKS):
        pool_spin(i)
    serial = time.perf_counter() - t0
    speedups = []
    with mod.Pool(POOL_WORKERS) as pool:
        for _ in range(repeat):
            t0 = time.perf_counter()
            pool.map(pool_spin, range(POOL_CPU_TASKS))
            speedups.append(serial / (time.perf_counter() - t0))
    return statistics.median(speedups), "speedup"


def pool_create_join(mod, repeat):
    batch = 10
    values = []
    pool = mod.Pool(POOL_WORKERS)
    pool.close()
    pool.join()
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(batch):
            pool = mod.Pool(POOL_WORKERS)
            pool.close()
            pool.join()
        values.append((time.perf_counter() - t0) * 1000 / batch)
    return statistics.median(values), "ms"


WORKLOADS = {
    "queue_throughput_int": lambda mod, r: queue_throughput(mod, 12345, r),
    "queue_throughput_1k": lambda mod, r: queue_throughput(mod, b"x" * 1024, r),
    "joinable_queue": joinable_queue,
    "pipe_pingpong": bench_pipe_pingpong,
    "pipe_pingpong_1cpu": bench_pipe_pingpong_1cpu,
    "pipe_bulk_1mib": bench_pipe_bulk_1mib,
    "shm_bulk": lambda mod, r: bench_shm_bulk(mod, mod.__name__, r),
    "pool_map_trivial": lambda mod, r: pool_map_rate(mod, POOL_MAP_ITEMS, None, r),
    "pool_map_trivial_cs1": lambda mod, r: pool_map_rate(mod, POOL_CS1_ITEMS, 1, r),
    "pool_apply_async": pool_apply_async,
    "pool_map_cpu": pool_map_cpu,
    "pool_create_join": pool_create_join,
}


def lock_uncontended(mod, repeat):
    """Nanoseconds per uncontended acquire()+release() of a Lock."""
    lock = mod.Lock()
    n = 200000
    acquire, release = lock.acquire, lock.release

    def once():
        t0 = time.perf_counter()
        for _ in range(n):
            acquire()
            release()
        return (time.perf_counter() - t0) * 1e9 / n

    once()
    return statistics.median(once() for _ in range(repeat)), "ns"


def contended_worker(lock, value, times, index, go, ops):
    # Module-level so that spawn children could import it too.
    go.wait()
    times[2 * index] = time.perf_counter()
    for _ in range(ops):
        lock.acquire()
        value.value += 1
        lock.release()
    times[2 * index + 1] = time.perf_counter()


def lock_contended_once(mod, ops):
    """Operations per second of 2 processes doing acquire, increment, release."""
    ctx = mod.get_context("fork")
    lock = ctx.Lock()
    value = ctx.RawValue("i", 0)
    times = ctx.RawArray("d", 4)
    go = ctx.Event()
    procs = [ctx.Process(target=contended_worker,
                         args=(lock, value, times, i, go, ops)) for i in range(2)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"worker exited with code {p.exitcode}")
    if value.value != 2 * ops:
        raise RuntimeError(f"lost increments: {value.value} != {2 * ops}")
    return 2 * ops / (max(times[1], times[3]) - min(times[0], times[2]))


def lock_contended(mod, repeat):
    lock_contended_once(mod, 2000)
    return statistics.median(lock_contended_once(mod, 20000)
                             for _ in range(repeat)), "ops/s"


def pingpong_worker(ping, pong, rounds):
    for _ in range(rounds):
        ping.acquire()
        pong.release()


def semaphore_pingpong_once(mod, rounds):
    """Microseconds per round trip over two Semaphores between two processes."""
    ctx = mod.get_context("fork")
    ping, pong = ctx.Semaphore(0), ctx.Semaphore(0)
    p = ctx.Process(target=pingpong_worker, args=(ping, pong, rounds + 1))
    p.start()
    ping.release()          # the first round trip waits for the start: untimed
    pong.acquire()
    t0 = time.perf_counter()
    for _ in range(rounds):
        ping.release()
        pong.acquire()
    t1 = time.perf_counter()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"worker exited with code {p.exitcode}")
    return (t1 - t0) * 1e6 / rounds


def semaphore_pingpong(mod, repeat):
    semaphore_pingpong_once(mod, 200)
    return statistics.median(semaphore_pingpong_once(mod, 5000)
                             for _ in range(repeat)), "us"


SYNC_WORKLOADS = {
    "lock_uncontended": lock_uncontended,
    "lock_contended": lock_contended,
    "semaphore_pingpong": semaphore_pingpong,
}
WORKLOADS.update(SYNC_WORKLOADS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True,
                    choices=["multiprocessing", "multiprocess"])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    mod = importlib.import_module(args.impl)
    repeat = max(1, args.repeat)

    prefix = "process_start_join_"
    method = args.workload[len(prefix):]
    if args.workload.startswith(prefix) and method in BATCH:
        value, unit = bench_start_join(mod, method, repeat)
    elif args.workload in WORKLOADS:
        value, unit = WORKLOADS[args.workload](mod, repeat)
    else:
        sys.exit(f"py_bench: no Python counterpart for {args.workload!r}")
    print(f"workload={args.workload} impl={args.impl} "
          f"value={value:.4g} unit={unit}", flush=True)


# Required: spawn/forkserver children re-import this file as __mp_main__.
if __name__ == "__main__":
    main()
