"""Benchmark regeneration on a 500-command spec (run on demand; not a test).

    .venv/bin/python benchmarks/regenerate.py [--rounds 5] [--commands 500] [--keep]

Last figures (a shared 2-core machine):

    $ .venv/bin/python benchmarks/regenerate.py --rounds 5 --commands 500
    python 3.11.7, 2 cpus, load 4.34
                              wall (median)  cpu (median)
    full generation, cold             4.82s         3.94s
    full generation, warm             1.81s         1.79s
    no-op generate                    0.08s         0.08s
    add command                       0.99s         0.97s
    no-op generate / full generation, warm: 0.044x wall, 0.043x cpu (target <= 0.10x: met)
    no-op generate / full generation, cold: 0.016x wall, 0.020x cpu (target <= 0.10x: met)
    add command / full generation, warm: 0.548x wall, 0.541x cpu (target <= 0.25x: missed)
    add command / full generation, cold: 0.205x wall, 0.246x cpu (target <= 0.25x: met)

The no-op stops after reading the manifest and hashing the generated files. `add
command` still regenerates the service's payload models (datamodel-code-generator,
about a third of its time) and pays the command line's start-up; against a full
generation whose caches are warm it is about 0.55x.

Builds a spec of `--commands` commands (20 per service, each service with an event
and a subscription to its neighbour's), then times the real CLI in subprocesses,
round by round so no variant gets all the quiet moments of a shared machine:

- full generation, cold: `purista new` with an empty cache (payload models, formatted
  code, schema checks, parsed specs and compiled templates all made from scratch);
- full generation, warm: `purista new` again with the caches the cold run filled;
- no-op generate: `purista generate` in a project already up to date;
- add command: `purista add command <service> <name>` (a new name each round).

Targets: a no-op generate <= 0.10x and an add command <= 0.25x of a full generation.
Both ratios are printed against the warm full generation (the stricter one: caches
help it too) and against the cold one. Wall time is the median of the rounds; CPU
time (user + system of the child) is printed beside it, since on a busy machine the
wall time also counts waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_SERVICE = 20


def build_spec(commands: int) -> str:
    """A spec with `commands` commands, 20 per service, an event per service, subscriptions."""
    services = (commands + PER_SERVICE - 1) // PER_SERVICE
    out = ["# A large spec for benchmarks.", "spec_version: 1", "project:", "  name: big"]
    out += ["  description: Benchmark project", "events:"]
    for s in range(services):
        out += [f"  thing{s}Changed:", "    payload:", "      type: object"]
        out += ["      properties:", "        id: {type: string}", "      required: [id]"]
    out.append("services:")
    made = 0
    for s in range(services):
        out += [f"  svc{s}:", "    version: 1", f"    description: Service {s}", "    commands:"]
        for c in range(min(PER_SERVICE, commands - made)):
            made += 1
            out += [
                f"      cmd{c}:",
                f"        description: Command {c} of service {s}",
                "        payload:",
                "          type: object",
                "          properties:",
                "            id: {type: string}",
                f"            count{c}: {{type: integer, minimum: 0}}",
                "          required: [id]",
                "        output:",
                "          type: object",
                "          properties:",
                "            ok: {type: boolean}",
                "          required: [ok]",
            ]
            if c == 0:
                out.append(f"        can_emit: [thing{s}Changed]")
        out += [
            "    subscriptions:",
            "      onThing:",
            f"        event: thing{(s + 1) % services}Changed",
        ]
    return "\n".join(out) + "\n"


def timed(args: list[str], cwd: Path, cache: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `purista ARGS` (which must succeed)."""
    env = {**os.environ, "PURISTA_CACHE_DIR": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "purista", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"purista {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="purista-bench-"))
    spec = work / "big.yaml"
    spec.write_text(build_spec(args.commands))
    runs: dict[str, list[tuple[float, float]]] = {
        "full generation, cold": [],
        "full generation, warm": [],
        "no-op generate": [],
        "add command": [],
    }
    try:
        for round_ in range(args.rounds):
            cache = work / f"cache{round_}"
            runs["full generation, cold"].append(
                timed(
                    ["new", "big", "--spec", str(spec), "-o", str(work / f"cold{round_}")],
                    work,
                    cache,
                )
            )
            project = work / f"warm{round_}" / "big"
            runs["full generation, warm"].append(
                timed(["new", "big", "--spec", str(spec), "-o", str(project.parent)], work, cache)
            )
            timed(["generate"], project, cache)
            runs["no-op generate"].append(timed(["generate"], project, cache))
            target = f"svc{round_ % ((args.commands + PER_SERVICE - 1) // PER_SERVICE)}"
            runs["add command"].append(
                timed(["add", "command", target, f"extra{round_}"], project, cache)
            )
            shutil.rmtree(work / f"cold{round_}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(runs, args)


def report(runs: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    """The figures, ready to paste: the command first."""
    command = ".venv/bin/python benchmarks/regenerate.py"
    command += f" --rounds {args.rounds} --commands {args.commands}"
    wall = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in runs.items()}
    print(f"$ {command}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    print(f"{'':24} {'wall (median)':>14} {'cpu (median)':>13}")
    for name in runs:
        print(f"{name:24} {wall[name]:13.2f}s {cpu[name]:12.2f}s")
    for name, target in (("no-op generate", 0.10), ("add command", 0.25)):
        for base in ("full generation, warm", "full generation, cold"):
            ratio_wall = wall[name] / wall[base]
            ratio_cpu = cpu[name] / cpu[base]
            verdict = "met" if ratio_wall <= target else "missed"
            print(
                f"{name} / {base}: {ratio_wall:.3f}x wall, {ratio_cpu:.3f}x cpu "
                f"(target <= {target:.2f}x: {verdict})"
            )


if __name__ == "__main__":
    main()
