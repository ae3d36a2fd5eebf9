"""fastnn vs its peers, side by side in one process: training samples/s (and MNIST accuracy).

Workloads (from compare_torch.py; relu hidden layers, softmax cross-entropy, Adam lr=1e-3,
betas 0.9/0.999, eps 1e-8 added to sqrt(v_hat) as PyTorch does):
    W1 784-128-10 batch 32, W2 784-256-256-10 batch 128, W3 784-2048-2048-10 batch 512.

Peers, each in its own small function, skipped with a printed reason when missing or failing:
    torch          eager, Adam(fused=True)
    torch_compile  torch.compile of the whole step (forward, loss, backward, Adam foreach)
    jax_jit        one jax.jit call per step (Optax Adam), params and state donated
    jax_scan       jax.lax.scan of --scan steps per jit call
    sklearn        MLPClassifier(solver="adam", alpha=0, shuffle=False), partial_fit per epoch, float32
    numpy          hand-written float32 forward / backward / Adam on one flat parameter arena

Fairness: every framework starts from the fastnn model's get_weights(), walks the same batches
(the data permuted once by a fixed permutation, then contiguous batches of the same size, no
per-epoch reshuffle) and runs on the same thread count. Windows (one epoch each) alternate
between the frameworks, the order rotating each window, after one warm-up epoch each (which
also compiles the jitted peers); the table shows medians of the windows and fastnn / peer.

    python benchmarks/compare_peers.py [--threads 2] [--windows 5] [--workloads W1,W2,W3]
        [--frameworks fastnn,torch,torch_compile,jax_jit,jax_scan,sklearn,numpy] [--scan 64]
    FASTNN_DATA=/work/shared/data python benchmarks/compare_peers.py --mnist [--epochs 5]
    python benchmarks/compare_peers.py --predict [--frameworks fastnn,torch,jax_jit,numpy]
        (W2 inference throughput at batch 4096)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Callable

import numpy as np

# Several thread pools share the cores in this one process (fastnn's OpenMP, torch's own
# OpenMP runtime, XLA's Eigen pool, OpenBLAS). On a quiet machine OpenMP's default wait
# policy is right (measured, 2 threads, fastnn/torch/jax_scan: W1 fastnn 103k samples/s).
# With other processes loading the cores, spin-waiting pools starved each other and fastnn
# and torch ran 10-60x slower; OMP_WAIT_POLICY=PASSIVE avoids that collapse but makes every
# wake-up of fastnn's team slow (W1 58k, W2 31k where the default gave 103k, 83k). The
# policy in effect is printed in the header; set it in the environment to compare.

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # compare_torch.py and the asv package `benchmarks` live next to this file
    sys.path.insert(0, _HERE)

import fastnn  # noqa: E402
from benchmarks.common import classification_data  # noqa: E402
from compare_torch import WORKLOADS, make_fastnn, make_torch  # noqa: E402

FRAMEWORKS = ("fastnn", "torch", "torch_compile", "jax_jit", "jax_scan", "sklearn", "numpy")
BETA_1, BETA_2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3


@dataclasses.dataclass
class Trainer:
    """One framework's model, behind the same three calls.

    epoch(X, y) trains one pass over contiguous batches of X (rows already in the
    shared order) and returns the mean per-sample loss of the pass, each batch's loss
    taken before its update; predict(X) returns class labels; weights() returns the
    parameters in fastnn's layout [W0 (in, out), b0, W1, b1, ...] as float32 numpy.
    """
    epoch: Callable[[np.ndarray, np.ndarray], float]
    predict: Callable[[np.ndarray], np.ndarray]
    weights: Callable[[], list]
    version: str


def set_threads(threads: int) -> None:
    """Thread counts that must be set before the peers are imported (XLA reads its flags once)."""
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true "
                                       f"intra_op_parallelism_threads={threads}")
    fastnn.set_num_threads(threads)


def _blas_limit(threads: int):
    """A context limiting the BLAS of numpy/scikit-learn (a no-op without threadpoolctl).

    Scoped to their windows: a process-wide limit would also reset fastnn's own BLAS,
    which fastnn keeps at one thread on purpose (fastnn/_threads.py)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


# -- one function per framework ----------------------------------------------------------------
def fastnn_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    model = make_fastnn(sizes)
    model.set_weights(weights)

    def epoch(X, y):
        return model.fit(X, y, epochs=1, batch_size=batch, shuffle=False, verbose=0).history["loss"][0]

    def predict(X):
        return model.predict(X).argmax(1)

    return Trainer(epoch, predict, model.get_weights, fastnn.__version__)


def _torch_net(sizes, weights, threads, fused):
    import torch
    torch.set_num_threads(threads)
    net, opt = make_torch(sizes, weights, fused=fused)
    return torch, net, opt


def _torch_common(torch, net, step, batch):
    def epoch(X, y):
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64, copy=False))
        total = torch.zeros(())
        for start in range(0, len(X), batch):
            xb, yb = Xt[start:start + batch], yt[start:start + batch]
            total += step(xb, yb).detach() * len(xb)  # no sync per step
        return float(total) / len(X)

    def predict(X):
        with torch.no_grad():
            return net(torch.from_numpy(X)).argmax(1).numpy()

    def weights():
        out = []
        for mod in net:
            if isinstance(mod, torch.nn.Linear):
                out += [mod.weight.detach().numpy().T.copy(), mod.bias.detach().numpy().copy()]
        return out

    return Trainer(epoch, predict, weights, torch.__version__)


def torch_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    torch, net, opt = _torch_net(sizes, weights, threads, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        return loss

    return _torch_common(torch, net, step, batch)


def torch_compile_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    # Adam without fused=True: Inductor generates its own fused update from the foreach form.
    torch, net, opt = _torch_net(sizes, weights, threads, fused=False)
    loss_fn = torch.nn.CrossEntropyLoss()

    @torch.compile
    def step(xb, yb):
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return _torch_common(torch, net, step, batch)


def _jax_parts(sizes, weights):
    import jax
    import jax.numpy as jnp
    import optax

    params = [(jnp.asarray(weights[2 * i]), jnp.asarray(weights[2 * i + 1])) for i in range(len(sizes) - 1)]
    opt = optax.adam(LR, b1=BETA_1, b2=BETA_2, eps=EPS)  # eps outside the sqrt, like torch

    def forward(p, x):
        for W, b in p[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = p[-1]
        return x @ W + b

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    def step(p, s, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    return jax, params, opt.init(params), forward, step


def _jax_trainer(sizes, weights, batch, scan):
    """scan=1: one jit call per step; scan=K: lax.scan over K steps per jit call, the
    steps left over (fewer than K, and a last partial batch) through the one-step call."""
    jax, params, state, forward, step = _jax_parts(sizes, weights)
    one = jax.jit(step, donate_argnums=(0, 1))

    def many(p, s, xs, ys):
        def body(carry, xy):
            p, s, loss = step(*carry, *xy)
            return (p, s), loss
        (p, s), losses = jax.lax.scan(body, (p, s), (xs, ys))
        return p, s, losses.sum()

    many = jax.jit(many, donate_argnums=(0, 1))
    holder = {"p": params, "s": state}

    def epoch(X, y):
        y = y.astype(np.int32, copy=False)
        p, s = holder["p"], holder["s"]
        n, full = len(X), len(X) // batch
        chunks = full // scan if scan > 1 else 0
        total = []
        if chunks:
            xs = X[:chunks * scan * batch].reshape(chunks, scan, batch, X.shape[1])
            ys = y[:chunks * scan * batch].reshape(chunks, scan, batch)
            for c in range(chunks):
                p, s, loss = many(p, s, xs[c], ys[c])
                total.append(loss * batch)
        for start in range(chunks * scan * batch, n, batch):
            p, s, loss = one(p, s, X[start:start + batch], y[start:start + batch])
            total.append(loss * len(X[start:start + batch]))
        holder["p"], holder["s"] = p, s
        return float(sum(total)) / n  # the one sync of the epoch

    fwd = jax.jit(forward)

    def predict(X):
        return np.asarray(fwd(holder["p"], X)).argmax(1)

    def weights_():
        return [np.array(a) for pair in holder["p"] for a in pair]

    return Trainer(epoch, predict, weights_, jax.__version__)


def jax_jit_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    return _jax_trainer(sizes, weights, batch, 1)


def jax_scan_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    return _jax_trainer(sizes, weights, batch, max(2, scan))


def sklearn_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    import sklearn
    from sklearn.neural_network import MLPClassifier

    n_classes = sizes[-1]
    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="adam",
                        learning_rate_init=LR, alpha=0.0, batch_size=batch, shuffle=False,
                        beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS, random_state=0)
    # partial_fit initializes on its first call: do that on a dummy float32 batch with every
    # class, then put our weights in and drop the optimizer so that Adam starts from t=0.
    dummy = np.zeros((n_classes, sizes[0]), np.float32)
    with _blas_limit(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "batch_size larger than sample size"
        clf.partial_fit(dummy, np.arange(n_classes), classes=np.arange(n_classes))
    clf.coefs_ = [np.array(w, np.float32) for w in weights[0::2]]
    clf.intercepts_ = [np.array(b, np.float32) for b in weights[1::2]]
    del clf._optimizer

    def epoch(X, y):
        with _blas_limit(threads):
            clf.partial_fit(X, y)
        return float(clf.loss_)

    def predict(X):
        with _blas_limit(threads):
            return clf.predict(X)

    def weights_():
        return [a for pair in zip(clf.coefs_, clf.intercepts_) for a in pair]

    return Trainer(epoch, predict, weights_, sklearn.__version__)


def numpy_trainer(sizes, weights, batch, threads, scan=64) -> Trainer:
    """Plain numpy float32: one flat arena for parameters, one for gradients, preallocated
    activations; softmax cross-entropy via max-subtracted log-sum-exp; Adam in 8 array ops."""
    shapes = [s for i in range(len(sizes) - 1) for s in ((sizes[i], sizes[i + 1]), (sizes[i + 1],))]
    offsets = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    arena, grads = np.zeros(offsets[-1], np.float32), np.zeros(offsets[-1], np.float32)
    P = [arena[offsets[k]:offsets[k + 1]].reshape(s) for k, s in enumerate(shapes)]
    G = [grads[offsets[k]:offsets[k + 1]].reshape(s) for k, s in enumerate(shapes)]
    for view, w in zip(P, weights):
        view[...] = w
    m, v, tmp = np.zeros_like(arena), np.zeros_like(arena), np.zeros_like(arena)
    state = {"t": 0}
    layers = len(sizes) - 1

    def forward(x):
        acts = [x]
        for i in range(layers):
            z = acts[-1] @ P[2 * i]
            z += P[2 * i + 1]
            if i < layers - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    def step(x, y):
        acts = forward(x)
        z = acts[-1]
        nb = len(x)
        rows = np.arange(nb)
        z -= z.max(1, keepdims=True)
        target = z[rows, y]  # logit - max of the true class (a copy)
        np.exp(z, out=z)  # z now holds exp(logit - max)
        s = z.sum(1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - target))
        z /= s
        z[rows, y] -= 1
        z /= nb  # d(mean loss)/d(logits)
        d = z
        for i in reversed(range(layers)):
            np.matmul(acts[i].T, d, out=G[2 * i])
            d.sum(0, out=G[2 * i + 1])
            if i:
                d = (d @ P[2 * i].T) * (acts[i] > 0)
        state["t"] += 1
        t = state["t"]
        # closures cannot rebind m, v, tmp, arena: every update goes through out=
        np.multiply(m, BETA_1, out=m)
        np.add(m, (1 - BETA_1) * grads, out=m)
        np.multiply(v, BETA_2, out=v)
        np.multiply(grads, grads, out=tmp)
        np.multiply(tmp, 1 - BETA_2, out=tmp)
        np.add(v, tmp, out=v)
        # p -= lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections folded into scalars
        np.sqrt(v, out=tmp)
        np.multiply(tmp, 1 / np.sqrt(1 - BETA_2 ** t), out=tmp)
        np.add(tmp, EPS, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, LR / (1 - BETA_1 ** t), out=tmp)
        np.subtract(arena, tmp, out=arena)
        return loss

    def epoch(X, y):
        total = 0.0
        with _blas_limit(threads):
            for start in range(0, len(X), batch):
                xb, yb = X[start:start + batch], y[start:start + batch]
                total += step(xb, yb) * len(xb)
        return total / len(X)

    def predict(X):
        with _blas_limit(threads):
            return forward(X)[-1].argmax(1)

    return Trainer(epoch, predict, lambda: [p.copy() for p in P], np.__version__)


BUILDERS = {
    "fastnn": fastnn_trainer, "torch": torch_trainer, "torch_compile": torch_compile_trainer,
    "jax_jit": jax_jit_trainer, "jax_scan": jax_scan_trainer, "sklearn": sklearn_trainer,
    "numpy": numpy_trainer,
}


def make_trainers(names, sizes, weights, batch, threads, scan=64, log=print) -> dict[str, Trainer]:
    """Build each named framework's trainer from the same weights; a framework that is not
    installed or fails to build is left out with a printed reason."""
    out = {}
    for name in names:
        try:
            out[name] = BUILDERS[name](sizes, weights, batch, threads, scan)
        except Exception as exc:  # noqa: BLE001 - any failure of a peer skips that peer only
            log(f"  skip {name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return out


# -- the two modes -------------------------------------------------------------------------------
def shared_data(name, permutation_seed=1):
    """The workload's synthetic data, rows in one fixed permutation, whole batches only."""
    sizes, batch, n = WORKLOADS[name]
    n = n // batch * batch
    X, y = classification_data(n, sizes[0], sizes[-1])
    perm = np.random.default_rng(permutation_seed).permutation(n)
    return sizes, batch, np.ascontiguousarray(X[perm]), y[perm]


def run_throughput(name, names, threads, windows, scan, log=print) -> dict[str, float]:
    """Median samples/s of each framework on one workload (alternating, rotating windows)."""
    sizes, batch, X, y = shared_data(name)
    weights = make_fastnn(sizes).get_weights()
    trainers = make_trainers(names, sizes, weights, batch, threads, scan, log)
    for k in list(trainers):  # warm-up epoch: compiles the jitted peers
        try:
            trainers[k].epoch(X, y)
        except Exception as exc:  # noqa: BLE001
            log(f"  skip {k}: warm-up failed: {type(exc).__name__}: {exc}")
            del trainers[k]
    return rotated_windows({k: (lambda tr=tr: tr.epoch(X, y)) for k, tr in trainers.items()},
                           windows, len(X))


def rotated_windows(work, windows, items) -> dict[str, float]:
    """Median items/s of each named callable over `windows` rounds, the order rotating
    from round to round so that none always follows the same framework."""
    rates = {k: [] for k in work}
    order = list(work)
    for w in range(windows):
        r = w % len(order)
        for k in order[r:] + order[:r]:
            time.sleep(0.2)  # let the previous framework's spinning worker threads go idle
            t = time.perf_counter()
            work[k]()
            rates[k].append(items / (time.perf_counter() - t))
    return {k: statistics.median(v) for k, v in rates.items()}


def run_predict(names, threads, windows, rows=4096, calls=20, log=print) -> dict[str, float]:
    """W2 inference throughput: median rows/s of each framework's predict (class labels)
    on one (rows, 784) float32 array, alternating rotated windows of `calls` calls."""
    sizes, batch, n = WORKLOADS["W2"]
    X = np.ascontiguousarray(classification_data(rows, sizes[0], sizes[-1])[0])
    weights = make_fastnn(sizes).get_weights()
    trainers = make_trainers(names, sizes, weights, batch, threads, 64, log)
    expected = trainers["fastnn"].predict(X)
    for k in list(trainers):  # warm-up (compiles the jitted peers), and the same labels
        agree = float(np.mean(trainers[k].predict(X) == expected))
        if agree < 0.999:
            log(f"  {k}: predicts other labels than fastnn on {1 - agree:.2%} of the rows")

    def calls_of(tr):
        def run():
            for _ in range(calls):
                tr.predict(X)
        return run
    return rotated_windows({k: calls_of(tr) for k, tr in trainers.items()}, windows, rows * calls)


def run_mnist(names, threads, epochs, scan, log=print, row=None) -> dict[str, tuple[float, float, float]]:
    """MNIST W2 for `epochs` epochs per framework: (wall s incl. compile, first epoch s, test acc).

    row(name, result) is called as each framework finishes (the run is long)."""
    from fastnn.datasets import load_mnist
    (Xtr, ytr), (Xte, yte) = load_mnist(download=False)
    sizes, batch, _ = WORKLOADS["W2"]
    perm = np.random.default_rng(1).permutation(len(Xtr))
    X, y = np.ascontiguousarray(Xtr[perm]), ytr[perm]
    weights = make_fastnn(sizes).get_weights()
    out = {}
    for k in names:
        tr = make_trainers([k], sizes, weights, batch, threads, scan, log).get(k)
        if tr is None:
            continue
        try:
            t0 = time.perf_counter()
            tr.epoch(X, y)
            first = time.perf_counter() - t0
            for _ in range(epochs - 1):
                tr.epoch(X, y)
            wall = time.perf_counter() - t0
            out[k] = (wall, first, float(np.mean(tr.predict(Xte) == yte)))
        except Exception as exc:  # noqa: BLE001
            log(f"  skip {k}: {type(exc).__name__}: {exc}")
            continue
        if row is not None:
            row(k, out[k])
    return out


def header(threads, names, log=print) -> None:
    versions = [f"fastnn {fastnn.__version__}", f"numpy {np.__version__}"]
    for mod in ("torch", "jax", "jaxlib", "optax", "sklearn", "threadpoolctl"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            versions.append(f"{mod} -")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    log(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    log(f"cpu: {cpu}, {os.cpu_count()} logical cores, python {platform.python_version()}")
    log("versions: " + ", ".join(versions))
    log(f"threads: {threads} (fastnn.set_num_threads, torch.set_num_threads, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS')!r}, threadpoolctl BLAS limit for numpy/sklearn, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')})")
    log("command: " + " ".join([os.path.basename(sys.executable)] + sys.argv))
    log("frameworks: " + ",".join(names))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--workloads", default="W1,W2,W3")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--scan", type=int, default=64, help="steps per jit call for jax_scan")
    p.add_argument("--mnist", action="store_true", help="MNIST W2: wall time and test accuracy")
    p.add_argument("--epochs", type=int, default=5, help="epochs of --mnist")
    p.add_argument("--predict", action="store_true",
                   help="W2 predict throughput at batch 4096 (rows/s) instead of training")
    args = p.parse_args(argv)
    names = [k.strip() for k in args.frameworks.split(",") if k.strip()]
    bad = [k for k in names if k not in BUILDERS]
    if bad:
        p.error(f"--frameworks: unknown {bad}; expected names from {list(FRAMEWORKS)}")
    if "fastnn" not in names:
        names.insert(0, "fastnn")  # the ratios are to fastnn
    set_threads(args.threads)
    header(args.threads, names)
    if args.mnist:
        sizes, batch, _ = WORKLOADS["W2"]
        print(f"\nMNIST W2 {'-'.join(map(str, sizes))} batch {batch}, {args.epochs} epochs, "
              "60000 train rows in one fixed order, test accuracy on 10000")
        print(f"{'framework':<15}{'wall s':>9}{'1st epoch s':>13}{'later epoch s':>15}"
              f"{'test acc':>10}{'wall / fastnn':>15}")
        base = {}

        def row(k, res):
            wall, first, acc = res
            base.setdefault("wall", wall)  # fastnn runs first
            later = (wall - first) / max(1, args.epochs - 1)
            print(f"{k:<15}{wall:>9.2f}{first:>13.2f}{later:>15.2f}{acc:>10.4f}{wall / base['wall']:>15.2f}",
                  flush=True)

        run_mnist(names, args.threads, args.epochs, args.scan, row=row)
        return
    if args.predict:
        print(f"\nW2 predict of 4096 rows (class labels), rows/s, medians of {args.windows} "
              "alternating windows of 20 calls; ratio = fastnn / peer")
        res = run_predict(names, args.threads, args.windows)
        print(f"{'framework':<15}{'rows/s':>14}{'fastnn / this':>15}")
        for k, rate in res.items():
            print(f"{k:<15}{rate:>14,.0f}{res['fastnn'] / rate:>15.2f}")
        return
    print(f"\nsamples/s, medians of {args.windows} alternating windows (one epoch each) after one "
          f"warm-up epoch; ratio = fastnn / peer (> 1: fastnn faster); jax_scan {args.scan} steps/call")
    for name in args.workloads.split(","):
        sizes, batch, n = WORKLOADS[name]
        print(f"\n{name} {'-'.join(map(str, sizes))} batch {batch}, {n // batch * batch} samples/epoch")
        res = run_throughput(name, names, args.threads, args.windows, args.scan)
        base = res.get("fastnn", float("nan"))
        print(f"{'framework':<15}{'samples/s':>14}{'fastnn / this':>15}")
        for k, rate in res.items():
            print(f"{k:<15}{rate:>14,.0f}{base / rate:>15.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
