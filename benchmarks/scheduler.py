"""Benchmark the scheduler's claim, send and mark (run on demand; not a test).

    .venv/bin/python benchmarks/scheduler.py [--occurrences 2000] [--replicas 4]

On a private redis-server, with the runtime's test double as the project
(`tests/runtime_double`: the `workEach` schedule enqueues a job on `work`):

(a) one replica fires `--occurrences` distinct occurrences one after another:
    the time of one firing (claim, enqueue with its idempotency key, mark), p50 and p99;
(b) `--replicas` schedulers, each on a thread with a Redis client of its own, race for
    the same `--occurrences` occurrences: how many jobs result (must be exactly one per
    occurrence) and the occurrences settled per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Print both figures; exit non-zero if the race fired an occurrence twice or not at all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    import runtime_double  # noqa: PLC0415  (found on the path set just above)
    from support import private_redis  # noqa: PLC0415

    runtime_double.install()
    with tempfile.TemporaryDirectory() as tmp, private_redis(Path(tmp)) as url:
        os.environ["REDIS_URL"] = url
        from purista.runtime.app import get_bridge  # noqa: PLC0415
        from purista.runtime.jobs import keys  # noqa: PLC0415
        from purista.runtime.project import SCHEDULES  # noqa: PLC0415
        from purista.runtime.scheduler import Scheduler  # noqa: PLC0415

        work = SCHEDULES["workEach"]
        client = redis.Redis.from_url(url)
        one = Scheduler([work], client, get_bridge())
        times = []
        for at in range(1_000_000, 1_000_000 + args.occurrences):
            started = time.perf_counter()
            one.fire(work, at)
            times.append(time.perf_counter() - started)
        times.sort()
        print(
            f"(a) one firing: p50 {statistics.median(times) * 1000:.2f} ms, "
            f"p99 {times[int(len(times) * 0.99)] * 1000:.2f} ms over {len(times)} occurrences"
        )

        client.flushdb()
        start_at = 2_000_000
        fired = [0] * args.replicas

        def race(index: int) -> None:
            own = Scheduler([work], redis.Redis.from_url(url), get_bridge())
            for at in range(start_at, start_at + args.occurrences):
                fired[index] += own.fire(work, at)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(args.replicas)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - started
        jobs = client.llen(keys("work")["pending"])
        print(
            f"(b) {args.replicas} replicas racing for {args.occurrences} occurrences: "
            f"{sum(fired)} fired ({fired} by replica), {jobs} jobs, "
            f"{args.occurrences / took:.0f} occurrences settled per second"
        )
        if jobs != args.occurrences or sum(fired) != args.occurrences:
            raise SystemExit("an occurrence was fired twice or not at all")


if __name__ == "__main__":
    main()
