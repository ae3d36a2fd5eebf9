"""MNIST handwritten digits: the full data set (local or downloaded) and a small embedded sample.

The full data set is never shipped with fastnn.  :func:`load_mnist` reads the
four standard gzipped IDX files from a folder, a cache, or downloads them once
(checking their SHA-256).  :func:`load_mnist_sample` needs no files or network:
it returns a small subset of the real MNIST bundled with the package.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zlib
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["load_mnist", "load_mnist_sample"]

Split = Tuple[np.ndarray, np.ndarray]
PathLike = Union[str, "os.PathLike[str]"]

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# Hashes of the *decompressed* files: they do not depend on the gzip level or
# timestamp a mirror used, so every honest mirror matches.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT = 30.0  # seconds per connection attempt / read, so a dead mirror cannot hang us
SAMPLE_FILE = "mnist_sample.npz"
_HOW_TO_FIX = (
    "To fix: set the FASTNN_DATA environment variable to a folder containing "
    "mnist/ with the four files, pass load_mnist(path=<folder with the files>), "
    "allow network access (or set FASTNN_MNIST_URL to a mirror), "
    "or use load_mnist_sample() for a small embedded sample."
)


def load_mnist(
    path: Optional[PathLike] = None,
    *,
    flatten: bool = True,
    download: bool = True,
    base_url: Optional[str] = None,
    cache_dir: Optional[PathLike] = None,
) -> Tuple[Split, Split]:
    """Load the full MNIST data set (60000 training and 10000 test images).

    Parameters
    ----------
    path : str or path-like, optional
        Folder holding the four gzipped IDX files.  When given, it must be
        complete: no other location is tried.
    flatten : bool, default True
        Return images as rows of 784 pixels instead of 28x28 arrays.
    download : bool, default True
        Download missing files into the cache folder when they are not found.
    base_url : str, optional
        Mirror to download from; defaults to ``$FASTNN_MNIST_URL``, then a
        built-in list of public mirrors tried in order.
    cache_dir : str or path-like, optional
        Folder where the files are cached (they are stored directly in it).
        Defaults to ``$FASTNN_CACHE/mnist``, then ``~/.cache/fastnn/mnist``.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        ``X`` is float32 in [0, 1] with shape (n, 784), or (n, 28, 28) when
        ``flatten`` is False; ``y`` is int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        If the files are neither found nor downloadable (the message lists
        where it looked).
    ValueError
        If a file is corrupt or truncated, or a download fails its checksum.

    Notes
    -----
    Without ``path``, the search order is ``$FASTNN_DATA/mnist``, then the
    cache folder, then a download into the cache folder.
    """
    if path is not None:
        folder = Path(path).expanduser()
        missing = _missing(folder)
        if missing:
            hint = ""
            if not _missing(folder / "mnist"):
                hint = f" (they are in {folder / 'mnist'}: pass that folder instead)"
            raise FileNotFoundError(
                f"MNIST folder {folder} lacks {', '.join(missing)}{hint}. {_HOW_TO_FIX}"
            )
    else:
        folder = _find_or_download(download, base_url, cache_dir)

    arrays = {key: _read_idx(folder / name) for key, name in FILES.items()}
    for split in ("train", "test"):
        _check_pair(folder, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
    return (
        _to_float(arrays["train_images"], arrays["train_labels"], flatten),
        _to_float(arrays["test_images"], arrays["test_labels"], flatten),
    )


def load_mnist_sample(flatten: bool = True) -> Tuple[Split, Split]:
    """Load a SMALL sample of MNIST embedded in the package (no files, no network).

    This is not the full data set: it holds 6000 training images (the first
    600 of each digit) and 1000 test images (the first 100 of each digit),
    taken from the original MNIST files and kept in their original order.
    Good for examples, tests and quick experiments; use :func:`load_mnist`
    for real benchmarks.

    Parameters
    ----------
    flatten : bool, default True
        Return images as rows of 784 pixels instead of 28x28 arrays.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Same format as :func:`load_mnist`.
    """
    # importlib.resources also works when the package is installed zipped.
    with resources.files(__package__).joinpath(SAMPLE_FILE).open("rb") as f:
        with np.load(f) as data:
            return (
                _to_float(data["x_train"], data["y_train"], flatten),
                _to_float(data["x_test"], data["y_test"], flatten),
            )


def _to_float(images: np.ndarray, labels: np.ndarray, flatten: bool) -> Split:
    x = images.reshape(len(images), -1) if flatten else images
    # Dividing by 255 (not multiplying by 1/255) keeps 255 -> exactly 1.0.
    return x.astype(np.float32) / np.float32(255), labels.astype(np.int64)


def _missing(folder: Path) -> list:
    return [name for name in FILES.values() if not (folder / name).is_file()]


def _cache_folder(cache_dir: Optional[PathLike]) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    root = os.environ.get("FASTNN_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "fastnn"
    return base / "mnist"


def _find_or_download(download: bool, base_url: Optional[str], cache_dir: Optional[PathLike]) -> Path:
    looked = []
    data = os.environ.get("FASTNN_DATA")
    if data:
        folder = Path(data).expanduser() / "mnist"
        if not _missing(folder):
            return folder
        looked.append(f"{folder} ($FASTNN_DATA/mnist)")
    else:
        looked.append("$FASTNN_DATA/mnist (FASTNN_DATA is not set)")
    cache = _cache_folder(cache_dir)
    missing = _missing(cache)
    if not missing:
        return cache
    looked.append(f"{cache} (cache)")

    errors = []
    if download:
        url = base_url or os.environ.get("FASTNN_MNIST_URL")
        mirrors: Sequence[str] = (url,) if url else MIRRORS
        cache.mkdir(parents=True, exist_ok=True)
        for name in missing:
            failures = _download(name, mirrors, cache)
            if failures:
                errors = failures
                break
        else:
            return cache
    tried = f" Downloads failed: {'; '.join(errors)}." if errors else " Download disabled."
    raise FileNotFoundError(f"MNIST not found. Looked in: {'; '.join(looked)}.{tried} {_HOW_TO_FIX}")


def _download(name: str, mirrors: Sequence[str], folder: Path) -> list:
    """Fetch ``name`` into ``folder`` from the first working mirror; return errors if none worked."""
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        # Write to a temporary file in the same folder and rename it only once
        # verified, so an interrupted or bad download never looks like a valid file.
        fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=folder)
        try:
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                    shutil.copyfileobj(resp, out)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            _verify(Path(tmp), name, url)
            os.replace(tmp, folder / name)
            return []
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return errors


def _verify(file: Path, name: str, url: str) -> None:
    expected = SHA256[name.removesuffix(".gz")]
    digest = hashlib.sha256()
    try:
        with gzip.open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        received = digest.hexdigest()
    except (OSError, EOFError, zlib.error) as exc:
        received = f"<not valid gzip data: {exc}>"
    if received != expected:
        raise ValueError(
            f"Checksum mismatch for {name} downloaded from {url}: expected SHA-256 "
            f"{expected} (of the decompressed file), received {received}. "
            "The bad download was deleted; retry or use another mirror (base_url=)."
        )


def _read_idx(file: Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes into an array of its declared shape."""
    try:
        with gzip.open(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{file}: corrupt or truncated gzip file ({exc})") from exc
    # Header: two zero bytes, a type code (0x08 = unsigned byte), the number of
    # dimensions, then one big-endian uint32 per dimension.
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{file}: not an unsigned-byte IDX file (magic bytes {raw[:4].hex() or 'missing'})")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{file}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - start != size:
        raise ValueError(
            f"{file}: header declares shape {dims} ({size} bytes of data) but the file "
            f"holds {len(raw) - start} bytes: truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def _check_pair(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    img_file = folder / FILES[f"{split}_images"]
    lab_file = folder / FILES[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{img_file}: expected images of shape (n, 28, 28), got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{lab_file}: expected {len(images)} labels, got shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lab_file}: labels must be digits 0-9, found {labels.max()}")
