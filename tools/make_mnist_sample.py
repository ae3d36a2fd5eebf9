"""Build fastnn/datasets/mnist_sample.npz from the real MNIST files.

Usage::

    python tools/make_mnist_sample.py [MNIST_FOLDER] [--per-class-train 600] [--per-class-test 100]

MNIST_FOLDER holds the four gzipped IDX files (default: ../shared/data/mnist
relative to the repository root).  The files are checked against the known
SHA-256 hashes, and only the sample is written into the repository: the first
N images of each digit, kept in their original order, stored as uint8 with
``np.savez_compressed``.  The indices into the original files are stored too,
so the sample can be traced back to its source.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # use this checkout's fastnn even if not installed

from fastnn.datasets import mnist  # noqa: E402

MAX_BYTES = 2 * 1024 * 1024


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` samples of each digit, in original order."""
    picks = [np.flatnonzero(labels == digit)[:per_class] for digit in range(10)]
    if any(len(p) < per_class for p in picks):
        raise SystemExit(f"fewer than {per_class} samples for some digit")
    return np.sort(np.concatenate(picks)).astype(np.uint16)  # MNIST has < 65536 rows


def check_hash(file: Path) -> None:
    with gzip.open(file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != mnist.SHA256[file.name.removesuffix(".gz")]:
        raise SystemExit(f"{file}: SHA-256 {digest} does not match the official MNIST file")


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=ROOT.parent / "shared" / "data" / "mnist", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "fastnn" / "datasets" / mnist.SAMPLE_FILE)
    parser.add_argument("--per-class-train", type=int, default=600)
    parser.add_argument("--per-class-test", type=int, default=100)
    args = parser.parse_args(argv)

    for name in mnist.FILES.values():
        check_hash(args.folder / name)
    data = {key: mnist._read_idx(args.folder / name) for key, name in mnist.FILES.items()}

    train_index = first_per_class(data["train_labels"], args.per_class_train)
    test_index = first_per_class(data["test_labels"], args.per_class_test)
    np.savez_compressed(
        args.out,
        x_train=data["train_images"][train_index],
        y_train=data["train_labels"][train_index],
        x_test=data["test_images"][test_index],
        y_test=data["test_labels"][test_index],
        train_index=train_index,
        test_index=test_index,
    )
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(train_index)} train + {len(test_index)} test images, {size} bytes")
    if size >= MAX_BYTES:
        raise SystemExit(f"sample is {size} bytes, over the {MAX_BYTES}-byte budget: lower the counts")


if __name__ == "__main__":
    main()
