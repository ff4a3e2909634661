"""Where one `pansharpen` command spends its wall time, and how many cores it keeps busy there.

    python bench/timeline.py [--every 0.01] [--segments] -- fuse PAN MS OUT --method gsa --compress lzw -q

Runs the CLI in this process (with the CLI's own allocator setting) while a thread samples, every
``--every`` seconds, the main thread's stack and the process's CPU time. Each sample is put in a phase
by the innermost frame it recognises (start-up imports, reading and checking the inputs, the
statistics of ``prepare``, the tile loop, close, the final fsync and rename); the summary prints each
phase's wall seconds and the cores in use (CPU seconds / wall seconds) in that phase, so a phase that
leaves the second core idle stands out (session 14: start-up 0.42-0.45 s at one core, the final fsync
0.16 s at almost none; docs/performance.md). ``--segments`` also prints every change of the innermost
pansharpen frame. A diagnostic, not a benchmark: no baseline, one run.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

#: (phase, frame names that put a sample in it), the first match from the innermost frame outwards
PHASES = (
    ("final fsync and rename", ("_fsync_path", "atomic_path")),
    ("close (overviews, flush)", ("close", "__exit__", "_build_overviews")),
    # not ordered_map: prepare's statistics use it too (session 14's timelines put them in the tile loop)
    ("tile loop", ("_write_tiles", "_write_encoded_tiles", "_fuse_pipelined", "write_encoded", "compute_tile",
                   "read_tile")),
    ("statistics (prepare)", ("prepare", "estimate", "_estimate")),
    ("inputs: read and check", ("read_decimated", "check_input_values", "_scene_fill", "_prepare_blocks",
                                "fuse_scene", "fuse")),
    ("start-up (imports, CLI)", ("_find_and_load", "main", "<module>")),
)


def phase_of(names: list[str]) -> str:
    for phase, markers in PHASES:
        if any(name in markers for name in names):
            return phase
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=float, default=0.01, help="sampling interval, seconds")
    ap.add_argument("--segments", action="store_true", help="print every change of the innermost pansharpen frame")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the pansharpen command line, after --")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from checkout_bytecode import compile_bytecode

    compile_bytecode()  # as an installed package runs (bench/checkout_bytecode.py)
    main_id, samples, done = threading.get_ident(), [], threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        last_t, last_cpu = 0.0, time.process_time()
        while not done.wait(args.every):
            frame, names, inner = sys._current_frames().get(main_id), [], None
            while frame is not None:
                names.append(frame.f_code.co_name)
                if inner is None and "pansharpen" in frame.f_code.co_filename:
                    inner = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"
                frame = frame.f_back
            now, cpu = time.perf_counter() - t0, time.process_time()
            samples.append((now, (cpu - last_cpu) / max(now - last_t, 1e-9), phase_of(names), inner or "-"))
            last_t, last_cpu = now, cpu

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    from pansharpen.cli import main as cli_main  # the imports are part of the timeline

    try:
        code = cli_main(command)
    except SystemExit as exc:
        code = exc.code
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    totals: dict[str, list[float]] = {}
    previous = 0.0
    for now, rate, phase, _ in samples:
        entry = totals.setdefault(phase, [0.0, 0.0])
        entry[0] += now - previous
        entry[1] += rate * (now - previous)
        previous = now
    print(f"exit code {code}, wall {wall:.2f} s (sampled to {previous:.2f} s; after that: interpreter exit)")
    print(f"{'phase':28s} {'wall s':>7s} {'cores':>6s}")
    for phase, _ in PHASES + (("other", ()),):
        if phase in totals:
            seconds, cpu = totals[phase]
            print(f"{phase:28s} {seconds:7.2f} {cpu / max(seconds, 1e-9):6.2f}")
    if args.segments:
        current = None
        for now, rate, _, inner in samples:
            if inner != current:
                print(f"{now:7.3f} s  {rate:4.1f} cores  {inner}")
                current = inner


if __name__ == "__main__":
    main()
