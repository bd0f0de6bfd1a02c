#!/usr/bin/env python3
"""The cost of each event type (issue 14): build time, code size, start-up.

Generates programs with S event types, builds and runs them, and prints one
`C<n> met|missed ...` line per target (C1-C5 of issue 14) plus the table
behind them.

    python3 bench/scale/scale.py                 # S = 10, 100, 500 (minutes: release builds)
    python3 bench/scale/scale.py --sizes 10,100,500,2000
    python3 bench/scale/scale.py --smoke         # S = 2, 8 in debug only: CI's check that it runs

For each S it generates, under target/scale/ (a workspace of its own with
its own target directory):

* `macros_S`: S types declared with `#[signal]`, R = 2·S `#[receiver]`
  functions, and a `main` that emits each type once (the first use of every
  signal: start-up), then each type many times (steady-state emit);
* `baseline_S`: the same S types, each with a plain `Vec<Box<dyn Fn(&T)>>`
  of 2 receivers, and the same `main` (C2's baseline slope).

The dependencies (mesh and what it uses) are built once first, by an S = 1
program in each profile; each program's build is then timed alone
(`touch` + `cargo build -p`), so a figure is the cost of that program's
types, not of its dependencies. Code size is the `.text` section of the
release binary (`size -A`). Slopes are taken between the two largest sizes
run (for C4, between the smallest size of at least 100 and the largest).

Nothing here is a test: figures depend on the machine. BENCHMARKS.md
carries a full run with the commit it was measured at.
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "scale"


def macros_program(s: int) -> str:
    lines = [
        "use std::hint::black_box;",
        "use std::sync::atomic::{AtomicU64, Ordering::Relaxed};",
        "use std::time::Instant;",
        "use mesh::EventType;",
        "static SINK: AtomicU64 = AtomicU64::new(0);",
        'mesh::namespace!(NS = "scale");',
    ]
    for i in range(s):
        lines += [
            f'#[mesh::signal(namespace = NS, name = "e{i}")]',
            "#[derive(Clone, Copy, Debug)]",
            f"struct E{i}(u64);",
            "#[mesh::receiver]",
            f"fn on_e{i}_a(e: &E{i}) {{ SINK.fetch_add(e.0, Relaxed); }}",
            "#[mesh::receiver]",
            f"fn on_e{i}_b(e: &E{i}) {{ SINK.fetch_add(e.0 + 1, Relaxed); }}",
        ]
    lines += main_fn(s, lambda i, v: f"E{i}({v}).emit();")
    return "\n".join(lines) + "\n"


def baseline_program(s: int) -> str:
    lines = [
        "use std::hint::black_box;",
        "use std::sync::LazyLock;",
        "use std::sync::atomic::{AtomicU64, Ordering::Relaxed};",
        "use std::time::Instant;",
        "static SINK: AtomicU64 = AtomicU64::new(0);",
        "type Receivers<T> = LazyLock<Vec<Box<dyn Fn(&T) + Send + Sync>>>;",
    ]
    for i in range(s):
        lines += [
            "#[derive(Clone, Copy, Debug)]",
            f"struct E{i}(u64);",
            f"static R{i}: Receivers<E{i}> = LazyLock::new(|| vec![",
            f"    Box::new(|e: &E{i}| {{ SINK.fetch_add(e.0, Relaxed); }}),",
            f"    Box::new(|e: &E{i}| {{ SINK.fetch_add(e.0 + 1, Relaxed); }}),",
            "]);",
            f"fn emit{i}(e: E{i}) {{ for f in R{i}.iter() {{ f(&e) }} }}",
        ]
    lines += main_fn(s, lambda i, v: f"emit{i}(E{i}({v}));")
    return "\n".join(lines) + "\n"


def main_fn(s: int, emit) -> list:
    body = ["fn main() {", "    let start = Instant::now();"]
    body += [f"    {emit(i, 1)}" for i in range(s)]
    body += [
        "    let startup = start.elapsed();",
        f"    let rounds: u64 = (2_000_000 / {s}u64).max(10);",
        "    let start = Instant::now();",
        "    for _ in 0..rounds {",
    ]
    body += [f"        {emit(i, 'black_box(1)')}" for i in range(s)]
    body += [
        "    }",
        "    let steady = start.elapsed();",
        f"    let emits = rounds * {s}u64;",
        '    println!("startup_ns {} emit_ns {:.3} sink {}", startup.as_nanos(),',
        "        steady.as_nanos() as f64 / emits as f64, SINK.load(Relaxed));",
        "}",
    ]
    return body


def package(name: str, mesh_dep: bool) -> str:
    dep = f'mesh = {{ path = "{ROOT / "mesh"}" }}\n' if mesh_dep else ""
    return (
        f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
        f"[dependencies]\n{dep}"
    )


def generate(sizes: list) -> list:
    """Writes the workspace; returns the package names."""
    if OUT.exists():
        for child in OUT.iterdir():
            if child.name != "target":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    names = []
    for s in [1] + sizes:
        for kind, text, mesh_dep in (
            ("macros", macros_program(s), True),
            ("baseline", baseline_program(s), False),
        ):
            name = f"{kind}_{s}"
            (OUT / name / "src").mkdir(parents=True, exist_ok=True)
            (OUT / name / "Cargo.toml").write_text(package(name, mesh_dep))
            (OUT / name / "src" / "main.rs").write_text(text)
            names.append(name)
    members = ", ".join(f'"{n}"' for n in names)
    (OUT / "Cargo.toml").write_text(
        f'[workspace]\nmembers = [{members}]\nresolver = "3"\n\n'
        "[profile.release]\ndebug = false\n"
    )
    return names


def cargo(args: list) -> float:
    """Runs cargo in the generated workspace; returns wall seconds."""
    start = time.monotonic()
    subprocess.run(
        ["cargo", *args],
        cwd=OUT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CARGO_TARGET_DIR": str(OUT / "target")},
    )
    return time.monotonic() - start


def timed_build(name: str, release: bool) -> float:
    (OUT / name / "src" / "main.rs").touch()
    return cargo(["build", "-q", "-p", name] + (["--release"] if release else []))


def text_size(binary: Path) -> int:
    out = subprocess.run(["size", "-A", str(binary)], check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == ".text":
            return int(parts[1])
    raise RuntimeError(f"no .text in {binary}")


def run(binary: Path, times: int) -> tuple:
    """Median start-up (ns) and steady emit (ns) over `times` runs."""
    startups, emits = [], []
    for _ in range(times):
        out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
        m = re.search(r"startup_ns (\d+) emit_ns ([\d.]+)", out)
        startups.append(int(m.group(1)))
        emits.append(float(m.group(2)))
    startups.sort()
    emits.sort()
    return startups[len(startups) // 2], emits[len(emits) // 2]


def slope(a: tuple, b: tuple) -> float:
    (s1, y1), (s2, y2) = a, b
    return (y2 - y1) / (s2 - s1)


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,500", help="comma-separated S values")
    ap.add_argument("--smoke", action="store_true", help="S = 2, 8, debug only (CI)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each binary (median)")
    args = ap.parse_args()
    sizes = [2, 8] if args.smoke else sorted(int(x) for x in args.sizes.split(","))
    generate(sizes)
    profiles = [False] if args.smoke else [False, True]
    # Dependencies first, once per profile, through the S = 1 programs.
    for release in profiles:
        cargo(["build", "-q", "-p", "macros_1", "-p", "baseline_1"] + (["--release"] if release else []))
    rows = {}
    for s in sizes:
        row = {}
        for kind in ("macros", "baseline"):
            name = f"{kind}_{s}"
            row[f"{kind}_debug_s"] = timed_build(name, release=False)
            if args.smoke:
                binary = OUT / "target" / "debug" / name
            else:
                row[f"{kind}_release_s"] = timed_build(name, release=True)
                binary = OUT / "target" / "release" / name
                row[f"{kind}_text"] = text_size(binary)
            row[f"{kind}_startup_ns"], row[f"{kind}_emit_ns"] = run(binary, 1 if args.smoke else args.runs)
        rows[s] = row
        print(f"S={s}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

    if args.smoke:
        print("smoke: every program built and ran")
        return 0

    lo, hi = sizes[-2], sizes[-1]
    pts = lambda key: ((lo, rows[lo][key]), (hi, rows[hi][key]))
    c1 = slope(*pts("macros_text")) / 1024
    c2 = slope(*pts("macros_release_s"))
    c2b = slope(*pts("baseline_release_s"))
    c3 = slope(*pts("macros_debug_s"))
    big = [s for s in sizes if s >= 100] or sizes
    s0, s1 = big[0], sizes[-1]
    t0, t1 = rows[s0]["macros_startup_ns"], rows[s1]["macros_startup_ns"]
    exponent = math.log(max(t1, 1) / max(t0, 1)) / math.log(s1 / s0) if s1 != s0 else float("nan")
    small = sizes[0]
    c5 = rows[hi]["macros_emit_ns"] / rows[small]["macros_emit_ns"]
    print()
    print(f"slopes between S={lo} and S={hi} (per additional event type, 2 receivers each):")
    print(f"C1 {verdict(c1 <= 8)} {c1:.1f} KB of .text per type (<= 8)")
    print(
        f"C2 {verdict(c2 <= 0.1 and c2 <= 1.5 * c2b)} {c2:.3f} s release build per type "
        f"(<= 0.1, and <= 1.5x the baseline's {c2b:.3f} s: {c2 / c2b if c2b else float('nan'):.1f}x)"
    )
    print(f"C3 {verdict(c3 <= 0.03)} {c3:.3f} s debug build per type (<= 0.03)")
    at2000 = rows.get(2000, {}).get("macros_startup_ns")
    c4_ok = exponent <= 1.1 and (at2000 is not None and at2000 <= 10e6)
    print(
        f"C4 {verdict(c4_ok)} start-up {t1 / 1e6:.2f} ms at S={s1}"
        + ("" if at2000 is not None else " (S=2000 not run: <= 10 ms there not checked)")
        + f", growth exponent {exponent:.2f} between S={s0} and S={s1} (<= 1.1)"
    )
    print(
        f"C5 {verdict(c5 <= 1.2)} steady emit {rows[hi]['macros_emit_ns']:.2f} ns per emit at S={hi}, "
        f"{c5:.2f}x S={small} ({rows[small]['macros_emit_ns']:.2f} ns) (<= 1.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
