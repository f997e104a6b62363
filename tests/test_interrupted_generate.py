"""`purista generate` killed (SIGKILL) at random moments: every file is old or new, never half.

The change renames the project, moves a service to v2 and adds a command, so a run
rewrites, creates and removes dozens of files. Half of the kills fall anywhere in
the run, half just after the write phase began (files staged, or the next manifest written). The
run after each kill completes the job: the tree is then exactly what one
uninterrupted run gives, and nothing temporary is left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from regen_support import contents, copy, make, ok, replace_in

NEXT = ".purista/manifest.next.json"
LEFTOVERS = (".purista/tmp/", NEXT)


def test_a_killed_generate_leaves_each_file_old_or_new_and_the_next_run_finishes(
    tmp_path: Path,
) -> None:
    base = make("shop", tmp_path / "before")
    handler = base / "src/shop/services/order/v1/commands/place_order.py"
    handler.write_text(handler.read_text() + "\n# mine\n")
    (base / "README.md").write_text((base / "README.md").read_text() + "\nOur notes.\n")
    spec = base / "purista.yaml"
    replace_in(spec, "  name: shop\n", "  name: store\n")
    replace_in(spec, "  order:\n    version: 1\n", "  order:\n    version: 2\n")
    replace_in(
        spec, "    commands:\n      signUp:\n", "    commands:\n      ping: {}\n      signUp:\n"
    )
    old = contents(base)

    done = copy(base, tmp_path / "done")
    started = time.monotonic()
    ok("generate", cwd=done)
    duration = time.monotonic() - started
    new = contents(done)
    changed = [p for p in set(old) | set(new) if old.get(p) != new.get(p)]
    assert len(changed) > 50

    rng = random.Random(20261127)
    mid_write = 0
    for attempt in range(10):
        work = copy(base, tmp_path / f"run{attempt}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "purista", "generate"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if attempt % 2 == 0:  # anywhere in the run
            time.sleep(rng.uniform(0, duration))
        else:  # while staging, or just after the first file was replaced
            marker = work / (".purista/tmp" if attempt % 4 == 1 else NEXT)
            end = time.monotonic() + 60
            while not marker.exists() and proc.poll() is None and time.monotonic() < end:
                pass
            time.sleep(rng.uniform(0, 0.02 if attempt % 4 == 1 else 0.002))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

        now = contents(work)
        replaced = sum(now.get(p) == new.get(p) for p in changed)
        mid_write += 0 < replaced < len(changed)
        for path in sorted(set(now) | set(old) | set(new)):
            if path.startswith(LEFTOVERS):
                continue
            assert now.get(path) in (old.get(path), new.get(path)), (attempt, path)

        ok("generate", cwd=work)
        assert contents(work) == new, attempt
        assert not (work / ".purista/tmp").exists()
        assert not (work / NEXT).exists()
        assert not [p for p in work.rglob("*") if p.name.endswith((".tmp", ".purista-tmp"))]
    print(f"{mid_write} of 10 kills landed while files were being replaced")
