"""Summarize a valgrind memcheck log for tools/sanitize.sh.

An error counts against fastnn when its stack has a frame in fastnn's compiled
extensions (fastnn/_core/*.so or the src_c sources); other errors (CPython's
start-up, numpy, OpenBLAS's CPU probing) are listed by their top frame only.
Exit status 1 when an error is in fastnn.
"""
from __future__ import annotations

import re
import sys
from collections import Counter


def main(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    # Errors are blocks of "==pid== " lines separated by an empty "==pid==" line.
    blocks, current = [], []
    for line in text.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if not body.strip():
            if current:
                blocks.append(current)
            current = []
        else:
            current.append(body)
    if current:
        blocks.append(current)
    errors = [b for b in blocks if re.match(r"(Invalid|Conditional|Use of uninit|Syscall param|"
                                            r"Mismatched|Source and destination|Argument)", b[0])]
    ours = [b for b in errors if any("fastnn/_core" in l or "src_c/" in l or ".pyx" in l for l in b)]
    others = Counter()
    for b in errors:
        if b not in ours:
            top = next((l.strip() for l in b[1:] if l.strip().startswith(("at", "by"))), "?")
            others[f"{b[0]} | {top}"] += 1
    summary = re.findall(r"ERROR SUMMARY: (\d+) errors from (\d+) contexts", text)
    print(f"   valgrind: {len(errors)} error contexts, {len(ours)} in fastnn frames"
          + (f" (summary: {summary[-1][0]} errors from {summary[-1][1]} contexts)" if summary else ""))
    for b in ours:
        print("   FASTNN:", "\n      ".join(b[:12]))
    for what, count in others.most_common(10):
        print(f"   other x{count}: {what}")
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
