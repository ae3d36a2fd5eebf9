"""Tests for fastnn.datasets (MNIST loader and embedded sample).

Synthetic IDX files are built here independently of the loader (struct +
gzip), so parsing errors in the loader cannot hide behind shared code.
"""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fastnn.datasets import load_mnist, load_mnist_sample
from fastnn.datasets import mnist

# Captured before the autouse fixture clears the environment.
REAL_DATA = os.environ.get("FASTNN_DATA")

NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Isolate every test from the user's data, cache and proxy settings."""
    for var in ("FASTNN_DATA", "FASTNN_CACHE", "FASTNN_MNIST_URL",
                "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "default-cache"))


def idx_bytes(arr):
    """Encode a uint8 array as an IDX file: 0, 0, type 0x08, ndim, big-endian dims, data."""
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(">%dI" % arr.ndim, *arr.shape) + arr.tobytes()


def make_arrays(seed=0, n_train=5, n_test=3):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    arrays["train_images"][0, 0, 0] = 255  # known extremes to check scaling
    arrays["train_images"][0, 0, 1] = 0
    return arrays


def write_mnist(folder, arrays, skip=()):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in NAMES.items():
        if key not in skip:
            (folder / name).write_bytes(gzip.compress(idx_bytes(arrays[key])))
    return folder


def hashes_of(arrays):
    """Expected-hash table (decompressed content) matching the synthetic files."""
    return {NAMES[k].removesuffix(".gz"): hashlib.sha256(idx_bytes(a)).hexdigest() for k, a in arrays.items()}


def assert_matches(result, arrays, flatten=True):
    (x_train, y_train), (x_test, y_test) = result
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        images = arrays[f"{split}_images"]
        expected = images.astype(np.float64) / 255.0
        if flatten:
            expected = expected.reshape(len(images), 28 * 28)
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == expected.shape
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(y, arrays[f"{split}_labels"].astype(np.int64))


# --- reading from a folder -------------------------------------------------

@pytest.mark.parametrize("flatten", [True, False])
def test_load_from_path_parses_idx(tmp_path, flatten):
    arrays = make_arrays()
    folder = write_mnist(tmp_path / "data", arrays)
    result = load_mnist(folder, flatten=flatten, download=False)
    assert_matches(result, arrays, flatten)
    x_train = result[0][0]
    assert x_train.shape == ((5, 784) if flatten else (5, 28, 28))
    first = x_train[0] if not flatten else x_train[0].reshape(28, 28)
    assert first[0, 0] == 1.0 and first[0, 1] == 0.0  # 255 -> exactly 1.0


def test_path_incomplete_raises_without_fallback(tmp_path, monkeypatch):
    arrays = make_arrays()
    write_mnist(tmp_path / "env" / "mnist", arrays)  # a valid fallback that must NOT be used
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    folder = write_mnist(tmp_path / "partial", arrays, skip=("test_labels",))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(folder, download=False)


def test_fastnn_data_takes_precedence_over_cache(tmp_path, monkeypatch):
    env_arrays, cache_arrays = make_arrays(seed=1), make_arrays(seed=2)
    write_mnist(tmp_path / "env" / "mnist", env_arrays)
    cache = write_mnist(tmp_path / "cache", cache_arrays)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    assert_matches(load_mnist(download=False, cache_dir=cache), env_arrays)
    # An incomplete $FASTNN_DATA/mnist falls through to the cache.
    (tmp_path / "env" / "mnist" / NAMES["train_images"]).unlink()
    assert_matches(load_mnist(download=False, cache_dir=cache), cache_arrays)


def test_fastnn_cache_env_names_default_cache(tmp_path, monkeypatch):
    arrays = make_arrays(seed=3)
    write_mnist(tmp_path / "cache-root" / "mnist", arrays)
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache-root"))
    assert_matches(load_mnist(download=False), arrays)


# --- corrupt files ---------------------------------------------------------

def _corruptions():
    good = idx_bytes(make_arrays()["train_images"])
    return {
        "truncated-data": gzip.compress(good[:-100]),
        "extra-data": gzip.compress(good + b"\x00"),
        "bad-magic": gzip.compress(b"\x00\x00\x0d\x03" + good[4:]),
        "truncated-header": gzip.compress(good[:10]),
        "truncated-gzip": gzip.compress(good)[:200],
        "not-gzip": b"this is not gzip data at all",
    }


@pytest.mark.parametrize("kind", sorted(_corruptions()))
def test_corrupt_idx_raises_value_error_naming_file(tmp_path, kind):
    folder = write_mnist(tmp_path / "data", make_arrays())
    (folder / NAMES["train_images"]).write_bytes(_corruptions()[kind])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_mnist(folder, download=False)


def test_label_count_mismatch_raises(tmp_path):
    arrays = make_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    folder = write_mnist(tmp_path / "data", arrays)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(folder, download=False)


# --- downloading from a local HTTP server ----------------------------------

@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, fmt, *args):  # keep test output quiet, but record requests
            requested.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state = {"running": True}

    def stop():
        if state["running"]:
            state["running"] = False
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    url = f"http://127.0.0.1:{httpd.server_port}/"
    yield SimpleNamespace(root=root, url=url, requested=requested, stop=stop)
    stop()


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted although the cache is complete")


def test_download_then_load_from_cache(tmp_path, server, monkeypatch):
    arrays = make_arrays(seed=4)
    write_mnist(server.root, arrays)
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    cache = tmp_path / "cache"

    assert_matches(load_mnist(base_url=server.url, cache_dir=cache), arrays)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES.values())  # no leftover temp files
    assert len(server.requested) == 4

    server.stop()
    monkeypatch.setattr(mnist.urllib.request, "urlopen", _no_network)
    assert_matches(load_mnist(base_url=server.url, cache_dir=cache, flatten=False), arrays, flatten=False)


def test_download_fetches_only_missing_files(tmp_path, server, monkeypatch):
    arrays = make_arrays(seed=5)
    write_mnist(server.root, arrays)
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    cache = write_mnist(tmp_path / "cache", arrays, skip=("train_images", "test_labels"))
    monkeypatch.setenv("FASTNN_MNIST_URL", server.url)  # base_url from the environment
    assert_matches(load_mnist(cache_dir=cache), arrays)
    assert sorted(server.requested) == sorted("/" + NAMES[k] for k in ("train_images", "test_labels"))


def test_download_checksum_mismatch_deletes_file(tmp_path, server, monkeypatch):
    arrays = make_arrays(seed=6)
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    corrupted = {k: a.copy() for k, a in arrays.items()}
    corrupted["test_images"][1, 5, 5] ^= 1  # valid IDX + gzip, but one bit differs
    write_mnist(server.root, corrupted)
    cache = tmp_path / "cache"

    with pytest.raises(ValueError) as info:
        load_mnist(base_url=server.url, cache_dir=cache)
    message = str(info.value)
    expected = hashes_of(arrays)["t10k-images-idx3-ubyte"]
    received = hashes_of(corrupted)["t10k-images-idx3-ubyte"]
    assert "t10k-images-idx3-ubyte" in message and expected in message and received in message
    assert not (cache / NAMES["test_images"]).exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def _dead_url():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_unreachable_mirror_gives_helpful_error(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(base_url=_dead_url(), cache_dir=cache)
    message = str(info.value)
    assert "FASTNN_DATA" in message and "load_mnist_sample" in message and str(cache) in message
    assert not any(cache.iterdir())


def test_download_disabled_gives_helpful_error(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist.urllib.request, "urlopen", _no_network)
    with pytest.raises(FileNotFoundError, match="FASTNN_DATA"):
        load_mnist(download=False, cache_dir=tmp_path / "cache")


# --- real data -------------------------------------------------------------

def _real_folder():
    if not REAL_DATA:
        pytest.skip("real MNIST not tested: FASTNN_DATA is not set (point it at a folder containing mnist/)")
    folder = Path(REAL_DATA) / "mnist"
    if not folder.is_dir():
        pytest.skip(f"real MNIST not tested: {folder} does not exist")
    return folder


def test_real_mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist(_real_folder(), download=False)
    assert x_train.shape == (60000, 784) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 784) and y_test.shape == (10000,)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert abs(float(x_train.mean(dtype=np.float64)) - 0.1307) < 1e-3


def test_sample_is_a_subset_of_real_mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist(_real_folder(), download=False)
    (s_x_train, s_y_train), (s_x_test, s_y_test) = load_mnist_sample()
    with np.load(Path(mnist.__file__).parent / "mnist_sample.npz") as data:
        train_index, test_index = data["train_index"], data["test_index"]
    np.testing.assert_array_equal(s_x_train, x_train[train_index])
    np.testing.assert_array_equal(s_y_train, y_train[train_index])
    np.testing.assert_array_equal(s_x_test, x_test[test_index])
    np.testing.assert_array_equal(s_y_test, y_test[test_index])


# --- embedded sample -------------------------------------------------------

def test_sample_file_is_small():
    assert (Path(mnist.__file__).parent / "mnist_sample.npz").stat().st_size < 2 * 1024 * 1024


@pytest.mark.parametrize("flatten", [True, False])
def test_load_mnist_sample(flatten):
    (x_train, y_train), (x_test, y_test) = load_mnist_sample(flatten=flatten)
    shape = (784,) if flatten else (28, 28)
    assert x_train.shape[1:] == shape and x_test.shape[1:] == shape
    assert 1000 <= len(x_train) < 60000 and 100 <= len(x_test) < 10000
    assert len(y_train) == len(x_train) and len(y_test) == len(x_test)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        assert 0.05 < float(x.mean()) < 0.25  # digits are mostly background
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
