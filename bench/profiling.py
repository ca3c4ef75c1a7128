"""Reading py-spy's collapsed stacks (`--format raw`): where the samples went, by function and by file.

`python -m bench.profiling FILE [--top N] [--focus TEXT]` prints, for the non-idle samples, the functions with
the most self time, the most inclusive time, and the share of each source file (self time), so a hot path
shows as numbers rather than a picture. `--focus` keeps only stacks passing through a frame containing TEXT.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

CHECKOUT = f"{Path(__file__).resolve().parents[1]}/"
"""Frames in this checkout are named relative to it."""
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        function, file = (match["function"], match["file"]) if match else (raw, "?")
        frames.append((function, _short(file)))
    return frames


def _short(file: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", CHECKOUT):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def summarize(path: Path, top: int = 25, focus: str = "") -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if focus and focus not in stack:
            continue
        samples = int(count)
        frames = _frames(stack)
        total += samples
        function, file = frames[-1]
        self_time[f"{function} ({file})"] += samples
        by_file[file] += samples
        by_package[file.split("/", 1)[0] if "/" in file else file] += samples
        for name in {f"{f} ({fl})" for f, fl in frames}:
            inclusive[name] += samples
    if not total:
        return f"{path}: no samples"

    def block(title: str, counter: Counter[str]) -> list[str]:
        return [title] + [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]

    lines = [f"{path}: {total} samples" + (f" through {focus!r}" if focus else "")]
    lines += block("self time by function:", self_time)
    lines += block("inclusive time by function:", inclusive)
    lines += block("self time by package/top folder:", by_package)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profiling")
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--focus", default="")
    args = parser.parse_args()
    print(summarize(args.file, args.top, args.focus))


if __name__ == "__main__":
    main()
