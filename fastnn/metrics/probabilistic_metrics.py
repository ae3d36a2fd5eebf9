"""Log-loss metrics: the mean cross-entropy of predicted probabilities over the epoch.

They run the loss kernels (src_c/losses.pyx, without the gradient), so the
metric is the very value the matching loss computes, with Keras's clipping::

    metric = sum_i w_i l_i / sum_i w_i             (0.0 when sum_i w_i = 0)

where l_i is the loss of `fastnn.losses` (BinaryCrossentropy: mean over the
outputs; CategoricalCrossentropy: probabilities normalized per row and
clipped to [1e-7, 1 - 1e-7]).
"""
from __future__ import annotations

from fastnn import ops
from fastnn.losses import _check_axis, _check_bool, _check_float
from fastnn.metrics.base import MeanSumMetric


class _LogLoss(MeanSumMetric):
    direction = "down"

    def _add_total(self, total: float, w, n: int) -> None:
        self._acc[0] += total
        self._acc[1] += n if w is None else ops.metric_weight_sum(w, n)


class BinaryCrossentropy(_LogLoss):
    """Mean binary cross-entropy of probabilities (or logits) against {0, 1} targets.

    Formula (per element; t' = t (1 - label_smoothing) + label_smoothing / 2)::

        p' = clip(p, 1e-7, 1 - 1e-7)
        e = -(t' log(p') + (1 - t') log(1 - p'))        (from_logits: with p = sigmoid(z), stably)
        l_i = mean_j e_ij

    scikit-learn's ``log_loss`` per column, averaged over columns, for
    probabilities inside the clip interval.

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float in [0, 1], default 0
    name : str, default "binary_crossentropy"
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name: str | None = None):
        super().__init__(name)
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
        self._kind = ops.LOSS_KINDS["binary_crossentropy_logits" if self.from_logits
                                    else "binary_crossentropy_probs"]

    def _update(self, t, p, w):
        n = p.shape[0]
        total, _ = ops.elementwise_loss(self._kind, p, t, None, n, 0.0, w, None, self.label_smoothing)
        self._add_total(total, w, n)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_LogLoss):
    """Mean categorical cross-entropy of probability rows (or logits).

    Formula (per sample; t' = (1 - label_smoothing) t + label_smoothing / k)::

        q = clip(p / sum(p), 1e-7, 1 - 1e-7)
        l_i = -sum_j t'_ij log(q_ij)                    (from_logits: logsumexp(z) - sum_j t'_j z_j)

    scikit-learn's ``log_loss`` for rows that sum to 1 inside the clip
    interval. Targets: one-hot (or soft) rows, or integer labels (then
    without label smoothing).

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float in [0, 1], default 0
    axis : -1
    name : str, default "categorical_crossentropy"
    """

    name = "categorical_crossentropy"
    targets = "classes"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 name: str | None = None):
        super().__init__(name)
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
        self.axis = _check_axis(axis)

    def _update(self, t, p, w):
        n = p.shape[0]
        if t.ndim == 1:
            if self.label_smoothing:
                raise ValueError("y_true: label_smoothing needs one-hot rows, got integer labels")
            fn = ops.softmax_xent_sparse if self.from_logits else ops.probs_xent_sparse
            total, _ = fn(p, t, None, n, 0.0, w, None)
        else:
            fn = ops.softmax_xent_dense if self.from_logits else ops.probs_xent_dense
            total, _ = fn(p, t, None, n, 0.0, w, None, self.label_smoothing)
        self._add_total(total, w, n)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Mean categorical cross-entropy with integer labels (one-hot rows are accepted too).

    Formula::

        l_i = -log(clip(p_i,y_i / sum_j p_ij, 1e-7, 1 - 1e-7))     (from_logits: logsumexp(z) - z_y)

    Parameters
    ----------
    from_logits : bool, default False
    axis : -1
    name : str, default "sparse_categorical_crossentropy"
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, axis: int = -1, name: str | None = None):
        super().__init__(from_logits=from_logits, label_smoothing=0.0, axis=axis, name=name)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "axis": self.axis}
