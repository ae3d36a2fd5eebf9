"""DenseEnsemble: N dense networks of one architecture trained in one pass.

Every member sees the same shuffled mini-batches; bagging is expressed as
per-member, per-row integer weights (the member's bootstrap counts), so one
batch serves every member. The members' weights are stacked so that the first
layer of all of them is ONE GEMM (``X_batch @ W0_all``, every member reads the
same input), deeper layers run N small GEMMs inside one nogil kernel call, and
all parameters live in one flat arena updated by ONE optimizer kernel call per
step (see ``src_c/ensemble.pyx`` for the layout).

Each member equals a `fastnn.Sequential` of the same Dense layers built with
the member's seed and trained on the same batches with ``sample_weight`` set to
its bootstrap counts (or without weights when ``bootstrap=False``), to rounding.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastnn import activations, ops
from fastnn import optimizers as optimizers_mod
from fastnn._validation import as_float_array, as_ndarray, check_int

_TASKS = {"classification": 0, "regression": 1}
_INFERENCE_CHUNK = 1024


class DenseEnsemble:
    """An ensemble of N multilayer perceptrons trained together on shared batches.

    Every member has the architecture ``Dense(h1, activation) -> ... -> Dense(out)``:
    softmax cross-entropy on logits for classification (``out`` = number of classes),
    mean squared error on a linear output for regression (``out`` = target columns).

    Bootstrap (``bootstrap=True``): member k draws counts ``c_k ~ Multinomial(n, 1/n)``
    over the n training rows (stored in `bootstrap_counts_`); on a batch B of the
    shared row order its loss is::

        loss_k = (1 / |B|) * sum_{i in B} c_ki * l_k(x_i, y_i)

    i.e. the batch-size normalisation of Keras's ``sample_weight`` (the expected
    count is 1, so the gradient scale matches unweighted training on average, and
    a batch where the member has no rows gives a zero gradient). Rows with
    ``c_ki = 0`` are out of bag for member k. With ``bootstrap=False`` every c_ki = 1:
    the members differ by their initialization only.

    Parameters
    ----------
    n_members : int >= 1
    hidden_layer_sizes : sequence of int >= 1 (may be empty: a linear / softmax model)
    activation : str, dict or ActivationSpec
        An element-wise activation of `fastnn.activations` (not softmax or a custom one).
    task : {"classification", "regression"}
    optimizer : str or fastnn Optimizer
        A name ("adam", "sgd", ...) or an instance (copied through its config; one
        optimizer state covers all members). clipnorm and global_clipnorm are
        refused: on the shared arena they would couple the members.
    learning_rate : float > 0 or None
        Replaces the named optimizer's default rate (None: keep it). Not accepted
        together with an Optimizer instance (set the rate on the instance).
    bootstrap : bool
    oob_score : bool
        With bootstrap, compute `oob_score_` and `oob_decision_` at the end of fit.
    seed : int >= 0, or a sequence of n_members ints >= 0
        Member k is initialized as ``fastnn.Sequential(..., seed=member_seeds_[k])``
        would be, with ``member_seeds_[k] = seed + k`` for an int seed (the sequence
        itself otherwise). The bootstrap counts and the batch order are drawn from
        generators seeded by the same value.
    dtype : {"float32", "float64"}

    Attributes
    ----------
    classes_ : (n_classes,) array, classification only
    n_features_in_ : int
    params_ : the flat parameter arena (layout: `fastnn.ops.ensemble_layout`)
    member_seeds_ : list of int
    bootstrap_counts_ : (n_members, n_samples) int64, or None without bootstrap
    oob_decision_ : (n_samples, n_outputs) float64 or None
        Per training row, the mean over the members for which it was out of bag of
        their predicted probabilities (classification) or values (regression); NaN
        rows were in every member's bag.
    oob_score_ : float or None
        Accuracy (classification) or R^2 averaged over outputs (regression) of
        `oob_decision_` on the rows that have one.
    history_ : dict
        "loss": per epoch, the mean over members of their training losses;
        "member_loss": per epoch, an (n_members,) array.

    Notes
    -----
    Training is deterministic for a seed and thread count. With several threads
    (`fastnn.set_num_threads`), n_members a multiple of them (or at least twice as
    many) and enough work per step, each thread trains whole members (one parallel
    region per step); results then differ from one thread's by rounding at most.

    Examples
    --------
    >>> ens = DenseEnsemble(n_members=8, hidden_layer_sizes=(64,), seed=0)
    >>> ens.fit(X, y, epochs=5, batch_size=128)
    >>> ens.predict(X_test, combine="vote"), ens.oob_score_
    """

    def __init__(self, n_members: int = 8, hidden_layer_sizes: Sequence[int] = (64,),
                 activation: Any = "relu", task: str = "classification",
                 optimizer: str | optimizers_mod.Optimizer = "adam",
                 learning_rate: float | None = None, bootstrap: bool = True,
                 oob_score: bool = True, seed: int | Sequence[int] = 0,
                 dtype: str = "float32"):
        self.n_members = check_int(n_members, "n_members", minimum=1)
        if isinstance(hidden_layer_sizes, (int, np.integer)) and not isinstance(hidden_layer_sizes, bool):
            hidden_layer_sizes = (hidden_layer_sizes,)
        if not isinstance(hidden_layer_sizes, (tuple, list)):
            raise TypeError(f"hidden_layer_sizes: expected a sequence of integers, got "
                            f"{type(hidden_layer_sizes).__name__}")
        self.hidden_layer_sizes = tuple(check_int(h, f"hidden_layer_sizes[{i}]", minimum=1)
                                        for i, h in enumerate(hidden_layer_sizes))
        if len(self.hidden_layer_sizes) >= ops.ENSEMBLE_MAX_DEPTH:
            raise ValueError(f"hidden_layer_sizes: expected at most {ops.ENSEMBLE_MAX_DEPTH - 1} "
                             f"layers, got {len(self.hidden_layer_sizes)}")
        spec = activations.get(activation)
        if spec.custom or spec.rowwise:
            raise ValueError(f"activation: expected a built-in element-wise activation, got {spec.name!r}")
        self.activation, self._spec = spec.name, spec
        if task not in _TASKS:
            raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
        self.task = task
        if learning_rate is not None:
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number)) \
                    or not (math.isfinite(learning_rate) and learning_rate > 0):
                raise ValueError(f"learning_rate: expected a finite float > 0 or None, got {learning_rate!r}")
            if isinstance(optimizer, optimizers_mod.Optimizer):
                raise ValueError("learning_rate: set the rate on the Optimizer instance; got both an "
                                 f"instance and learning_rate={learning_rate!r}")
        self.learning_rate = None if learning_rate is None else float(learning_rate)
        self._make_optimizer(optimizer)  # validates now, before any fit
        self.optimizer = optimizer
        if not isinstance(bootstrap, (bool, np.bool_)):
            raise TypeError(f"bootstrap: expected a bool, got {bootstrap!r}")
        if not isinstance(oob_score, (bool, np.bool_)):
            raise TypeError(f"oob_score: expected a bool, got {oob_score!r}")
        self.bootstrap, self.oob_score = bool(bootstrap), bool(oob_score)
        if isinstance(seed, (tuple, list, np.ndarray)):
            if len(seed) != self.n_members:
                raise ValueError(f"seed: expected an int or {self.n_members} ints (one per member), "
                                 f"got {len(seed)}")
            self.member_seeds_ = [check_int(s, f"seed[{i}]", minimum=0) for i, s in enumerate(seed)]
        else:
            s = check_int(seed, "seed", minimum=0)
            self.member_seeds_ = [s + k for k in range(self.n_members)]
        self.seed = seed if not isinstance(seed, np.ndarray) else seed.tolist()
        if dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.fitted = False
        self.classes_ = None
        self.bootstrap_counts_ = None
        self.oob_decision_ = self.oob_score_ = None
        self.history_: dict[str, list] = {}
        self._capacity = 0

    # -- construction --------------------------------------------------------------------------
    def _make_optimizer(self, optimizer: Any) -> optimizers_mod.Optimizer:
        """A fresh optimizer: a named one (with learning_rate), or a copy of an instance."""
        if isinstance(optimizer, optimizers_mod.Optimizer):
            opt = optimizers_mod.deserialize(optimizers_mod.serialize(optimizer))
        else:
            opt = optimizers_mod.get(optimizer)
            if self.learning_rate is not None:
                opt.learning_rate = self.learning_rate
        if opt.clipnorm is not None or opt.global_clipnorm is not None:
            raise ValueError("optimizer: clipnorm and global_clipnorm are not supported by DenseEnsemble "
                             "(the members share one arena); got clipnorm="
                             f"{opt.clipnorm!r}, global_clipnorm={opt.global_clipnorm!r}")
        return opt

    def _dims(self, n_in: int, n_out: int) -> np.ndarray:
        return np.array((n_in,) + self.hidden_layer_sizes + (n_out,), np.int64)

    def _member_layers(self) -> list:
        from fastnn import layers
        return [layers.Dense(h, activation=self._spec) for h in self.hidden_layer_sizes] + \
               [layers.Dense(int(self._dims_[-1]))]

    def _member_sequential(self, k: int):
        from fastnn import Sequential
        model = Sequential(self._member_layers(), seed=self.member_seeds_[k], dtype=self.dtype.name)
        model.build((None, int(self._dims_[0])))
        return model

    def _build(self, n_in: int, n_out: int) -> None:
        """The arenas, with member k's initial weights those of its seed's Sequential."""
        self._dims_ = self._dims(n_in, n_out)
        self._layout = ops.ensemble_layout(self._dims_, self.n_members, 0)
        self.params_ = np.zeros(self._layout["n_params"], self.dtype)
        self.grads_ = np.zeros_like(self.params_)
        for k in range(self.n_members):
            self._set_member(k, self._member_sequential(k).get_weights())
        self._capacity = 0

    def _member_views(self, k: int, arena: np.ndarray) -> list[np.ndarray]:
        """Views of member k's [W0, b0, W1, b1, ...] in an arena (W0's is strided)."""
        N, d, lay = self.n_members, self._dims_, self._layout
        views = []
        for l in range(len(d) - 1):
            a, u = int(d[l]), int(d[l + 1])
            w0, b0 = lay["w_offsets"][l], lay["b_offsets"][l]
            if l == 0:
                w = arena[w0:w0 + a * N * u].reshape(a, N * u)[:, k * u:(k + 1) * u]
            else:
                w = arena[w0:w0 + N * a * u].reshape(N, a, u)[k]
            views += [w, arena[b0:b0 + N * u].reshape(N, u)[k]]
        return views

    def _set_member(self, k: int, weights: Sequence[np.ndarray]) -> None:
        for view, w in zip(self._member_views(k, self.params_), weights):
            view[...] = w

    def _ensure_capacity(self, rows: int) -> None:
        """Activation and delta buffers for up to `rows` rows (grown, never shrunk)."""
        if rows <= self._capacity:
            return
        lay = ops.ensemble_layout(self._dims_, self.n_members, rows)
        self._act_offsets = lay["act_offsets"]
        self._acts = np.empty(lay["n_acts"], self.dtype)
        self._zs = np.empty(lay["n_acts"], self.dtype) if self._spec.needs_z else None
        self._deltas = np.empty(lay["n_acts"], self.dtype)
        self._xbuf = np.empty((rows, int(self._dims_[0])), self.dtype)
        self._capacity = rows

    # -- validation ----------------------------------------------------------------------------
    def _check_x(self, x: Any, name: str = "x") -> np.ndarray:
        n_cols = int(self._dims_[0]) if self.fitted else None
        X = as_float_array(x, name, ndim=2, dtype=self.dtype, n_cols=n_cols)
        return np.ascontiguousarray(X)

    def _check_y(self, y: Any, n: int) -> tuple[np.ndarray, int]:
        """Kernel targets (int64 class indices or float rows) and the output width."""
        arr = as_ndarray(y, "y")
        if arr.ndim == 0 or len(arr) != n:
            raise ValueError(f"y: expected {n} rows like x, got {len(arr) if arr.ndim else 'a scalar'}")
        if self.task == "classification":
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                raise ValueError(f"y: expected class labels of shape (n,), got shape {arr.shape}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError("y: expected finite class labels, got NaN or infinity")
            if arr.dtype.kind not in "iubfUSO":
                raise TypeError(f"y: expected class labels, got dtype {arr.dtype}")
            classes, idx = np.unique(arr, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(f"y: expected at least 2 classes, got {len(classes)}: {classes.tolist()}")
            self.classes_ = classes
            return np.ascontiguousarray(idx.reshape(-1), dtype=np.int64), len(classes)
        if arr.ndim not in (1, 2):
            raise ValueError(f"y: expected targets of shape (n,) or (n, outputs), got shape {arr.shape}")
        t = as_float_array(arr.reshape(n, -1), "y", ndim=2, dtype=self.dtype)
        if t.shape[1] < 1:
            raise ValueError("y: expected at least one target column, got 0")
        self._y_1d = arr.ndim == 1
        return np.ascontiguousarray(t), t.shape[1]

    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise ValueError(f"{what}: the ensemble is not fitted; call fit(x, y) first")

    # -- training ------------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            verbose: int = 0) -> DenseEnsemble:
        """Train every member from its initial weights for `epochs` passes over (x, y).

        Each call starts again (new initial weights, bootstrap counts and optimizer
        state, from the seeds), as scikit-learn's fit does.

        Parameters
        ----------
        x : (n, n_features) array-like
        y : (n,) class labels (any sortable values) for classification; (n,) or
            (n, outputs) floats for regression
        epochs, batch_size : int >= 1 (batch_size is capped at n, as Sequential does)
        shuffle : bool
            Reshuffle the shared row order every epoch (seeded).
        verbose : 0 silent, 1 or 2: one line per epoch

        Returns
        -------
        self
        """
        epochs = check_int(epochs, "epochs")
        batch_size = check_int(batch_size, "batch_size")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected a bool, got {shuffle!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        X = as_float_array(x, "x", ndim=2, dtype=self.dtype)
        X = np.ascontiguousarray(X)
        n = len(X)
        if n == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        if X.shape[1] == 0:
            raise ValueError("x: expected at least one feature, got 0 columns")
        classes_before = self.classes_
        try:
            targets, n_out = self._check_y(y, n)
        except Exception:
            self.classes_ = classes_before  # a failed call leaves the ensemble as it was
            raise
        opt = self._make_optimizer(self.optimizer)

        N = self.n_members
        self._build(X.shape[1], n_out)
        self.n_features_in_ = X.shape[1]
        root = np.random.SeedSequence(self.member_seeds_ if isinstance(self.seed, list) else self.seed)
        boot_ss, shuffle_ss = root.spawn(2)
        if self.bootstrap:
            counts = np.random.default_rng(boot_ss).multinomial(n, np.full(n, 1.0 / n), size=N)
            self.bootstrap_counts_ = counts.astype(np.int64)
            weights = np.ascontiguousarray(self.bootstrap_counts_.T, dtype=self.dtype)  # (n, N)
        else:
            self.bootstrap_counts_ = None
            weights = None
        shuffle_rng = np.random.default_rng(shuffle_ss)

        batch_size = min(batch_size, n)
        steps = -(-n // batch_size)
        self._ensure_capacity(batch_size)
        ybuf = np.empty((batch_size,) + targets.shape[1:], targets.dtype)
        wbuf = None if weights is None else np.empty((batch_size, N), self.dtype)
        step_loss = np.zeros((steps, N), np.float64)
        sizes = np.array([min(batch_size, n - s * batch_size) for s in range(steps)], np.float64)
        opt.build([self.params_])
        self._optimizer = opt
        act, alpha, task = self._spec.code, float(self._spec.alpha), _TASKS[self.task]
        dims, params, grads = self._dims_, self.params_, self.grads_
        acts, zs, deltas, xbuf, cap = self._acts, self._zs, self._deltas, self._xbuf, self._capacity
        order = np.arange(n, dtype=np.int64)
        self.history_ = {"loss": [], "member_loss": []}
        for epoch in range(epochs):
            if shuffle:
                order = shuffle_rng.permutation(n).astype(np.int64, copy=False)
            for step in range(steps):
                start = step * batch_size
                stop = min(start + batch_size, n)
                nb = stop - start
                ops.gather_rows(X, order, start, stop, xbuf)
                ops.gather_rows(targets, order, start, stop, ybuf)
                if wbuf is not None:
                    ops.gather_rows(weights, order, start, stop, wbuf)
                ops.ensemble_step(xbuf, nb, ybuf, wbuf, params, grads, dims, N, act, alpha, task,
                                  1.0 / nb, cap, acts, zs, deltas, step_loss[step])
                opt._apply_flat([grads], [params])
            member_loss = sizes @ step_loss / n  # each batch's mean weighted by its rows
            self.history_["member_loss"].append(member_loss)
            self.history_["loss"].append(float(member_loss.mean()))
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs} - loss: {self.history_['loss'][-1]:.4f}")
        opt.finalize_variable_values([params])
        self.fitted = True
        self.oob_decision_ = self.oob_score_ = None
        if self.bootstrap and self.oob_score:
            self._compute_oob(X, targets)
        return self

    def _compute_oob(self, X: np.ndarray, targets: np.ndarray) -> None:
        """Out-of-bag decision and score from each row's out-of-bag members."""
        P = self.member_predict(X)                          # (N, n, out)
        oob = (self.bootstrap_counts_ == 0).astype(np.float64)  # (N, n)
        n_oob = oob.sum(axis=0)
        summed = np.einsum("kn,kno->no", oob, P.astype(np.float64, copy=False))
        has = n_oob > 0
        decision = np.full_like(summed, np.nan)
        decision[has] = summed[has] / n_oob[has, None]
        self.oob_decision_ = decision
        if not has.any():
            self.oob_score_ = float("nan")
        elif self.task == "classification":
            self.oob_score_ = float(np.mean(np.argmax(decision[has], axis=1) == targets[has]))
        else:
            self.oob_score_ = _r2(targets[has].astype(np.float64), decision[has])

    # -- inference -----------------------------------------------------------------------------
    def member_predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Every member's predictions, shape (n_members, n, n_outputs): class
        probabilities for classification, values for regression (model dtype)."""
        self._require_fitted("member_predict")
        X = self._check_x(x)
        chunk = _INFERENCE_CHUNK if batch_size is None else check_int(batch_size, "batch_size")
        n, N, K = len(X), self.n_members, int(self._dims_[-1])
        out = np.empty((N, n, K), self.dtype)
        if n == 0:
            return out
        chunk = min(chunk, n)
        self._ensure_capacity(chunk)
        off = self._act_offsets[-1]
        act, alpha = self._spec.code, float(self._spec.alpha)
        for start in range(0, n, chunk):
            nb = min(chunk, n - start)
            ops.ensemble_forward(X[start:start + nb], nb, self.params_, self._dims_, N, act, alpha,
                                 self._capacity, self._acts, self._zs)
            block = self._acts[off:off + nb * N * K]
            if self.task == "classification":
                ops.softmax_rows(block.reshape(nb * N, K), nb * N)
            out[:, start:start + nb] = block.reshape(nb, N, K).transpose(1, 0, 2)
        return out

    def predict_proba(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities averaged over the members, shape (n, n_classes)."""
        if self.task != "classification":
            raise ValueError(f"predict_proba: needs task='classification', got task={self.task!r}")
        return self.member_predict(x, batch_size).mean(axis=0)

    def predict(self, x: Any, combine: str = "mean", batch_size: int | None = None) -> np.ndarray:
        """Combined predictions.

        combine : classification: "mean" (argmax of the averaged probabilities) or
            "vote" (the class most members predict; ties go to the class listed first
            in `classes_`); regression: "mean" or "median" of the members' values.

        Returns class labels (n,) (values of `classes_`) or values (n,) / (n, outputs)
        shaped like the training targets.
        """
        allowed = ("mean", "vote") if self.task == "classification" else ("mean", "median")
        if combine not in allowed:
            raise ValueError(f"combine: expected one of {allowed} for task={self.task!r}, got {combine!r}")
        P = self.member_predict(x, batch_size)
        if self.task == "classification":
            if combine == "mean":
                idx = np.argmax(P.mean(axis=0), axis=1)
            else:
                votes = (np.argmax(P, axis=2)[:, :, None] == np.arange(P.shape[2])).sum(axis=0)
                idx = np.argmax(votes, axis=1)
            return self.classes_[idx]
        out = P.mean(axis=0) if combine == "mean" else np.median(P, axis=0)
        return out[:, 0] if self._y_1d else out

    def score(self, x: Any, y: Any) -> float:
        """Accuracy of predict(x) (classification) or R^2 averaged over outputs (regression)."""
        pred = self.predict(x)
        arr = as_ndarray(y, "y")
        if len(arr) != len(pred):
            raise ValueError(f"y: expected {len(pred)} rows like x, got {len(arr)}")
        if self.task == "classification":
            return float(np.mean(pred == arr.reshape(-1)))
        return _r2(np.asarray(arr, np.float64).reshape(len(arr), -1),
                   np.asarray(pred, np.float64).reshape(len(arr), -1))

    # -- members -------------------------------------------------------------------------------
    def _check_member(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.n_members:
            raise ValueError(f"k: expected a member index in [0, {self.n_members}), got {k!r}")
        return int(k)

    def members_weights(self, k: int) -> list[np.ndarray]:
        """Copies of member k's weights [W0 (in, h1), b0 (h1,), W1, b1, ...] (Keras layout)."""
        self._require_fitted("members_weights")
        k = self._check_member(k)
        return [np.array(v) for v in self._member_views(k, self.params_)]

    def to_sequential(self, k: int):
        """A fastnn.Sequential holding member k's weights, compiled with the ensemble's
        loss and a fresh copy of its optimizer (its trained state is not carried over)."""
        self._require_fitted("to_sequential")
        k = self._check_member(k)
        model = self._member_sequential(k)
        model.set_weights(self.members_weights(k))
        model.compile(optimizer=self._make_optimizer(self.optimizer),
                      loss="softmax_cross_entropy" if self.task == "classification" else "mse")
        return model

    def get_config(self) -> dict[str, Any]:
        opt = self.optimizer
        return {"n_members": self.n_members, "hidden_layer_sizes": list(self.hidden_layer_sizes),
                "activation": self.activation, "task": self.task,
                "optimizer": optimizers_mod.serialize(opt) if isinstance(opt, optimizers_mod.Optimizer) else opt,
                "learning_rate": self.learning_rate, "bootstrap": self.bootstrap,
                "oob_score": self.oob_score, "seed": self.seed, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DenseEnsemble:
        config = dict(config)
        if isinstance(config.get("optimizer"), dict):
            config["optimizer"] = optimizers_mod.deserialize(config["optimizer"])
        return cls(**config)

    def __repr__(self) -> str:
        return (f"DenseEnsemble(n_members={self.n_members}, hidden_layer_sizes={self.hidden_layer_sizes}, "
                f"activation={self.activation!r}, task={self.task!r})")


def _r2(t: np.ndarray, p: np.ndarray) -> float:
    """R^2 per output column, averaged (scikit-learn's uniform_average; a constant column
    scores 1 when predicted exactly, else 0, as scikit-learn does)."""
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return float(r2.mean())
