"""Optimizer updates of a million-parameter arena: every optimizer, float32/float64,
plain and with its extras (weight decay + clipnorm + EMA fused in the same pass)."""
import numpy as np

import fastnn
from fastnn import optimizers

N_PARAMS = 1 << 20
OPTIMIZERS = {
    "sgd": lambda **kw: optimizers.SGD(0.01, **kw),
    "sgd_momentum": lambda **kw: optimizers.SGD(0.01, momentum=0.9, **kw),
    "adagrad": lambda **kw: optimizers.Adagrad(0.01, **kw),
    "rmsprop": lambda **kw: optimizers.RMSprop(1e-3, **kw),
    "rmsprop_centered_momentum": lambda **kw: optimizers.RMSprop(1e-3, momentum=0.9, centered=True, **kw),
    "adadelta": lambda **kw: optimizers.Adadelta(1.0, **kw),
    "adam": lambda **kw: optimizers.Adam(1e-3, **kw),
    "adam_amsgrad": lambda **kw: optimizers.Adam(1e-3, amsgrad=True, **kw),
    "adamw": lambda **kw: optimizers.AdamW(1e-3, **{"weight_decay": 0.01, **kw}),
    "adamax": lambda **kw: optimizers.Adamax(1e-3, **kw),
    "nadam": lambda **kw: optimizers.Nadam(1e-3, **kw),
    "radam": lambda **kw: optimizers.RAdam(1e-3, **kw),
    "lion": lambda **kw: optimizers.Lion(1e-4, **kw),
    "ftrl": lambda **kw: optimizers.Ftrl(0.1, **kw),
}
EXTRAS = {
    "none": {},
    "wd+clipnorm+ema": dict(weight_decay=0.004, clipnorm=1.0, use_ema=True),
    "global_clipnorm": dict(global_clipnorm=1.0),
}


class OptimizerUpdate:
    """One update over a flat arena of 2**20 parameters (the path a model takes)."""

    params = (list(OPTIMIZERS), ["float32", "float64"], list(EXTRAS), [1, 2])
    param_names = ["optimizer", "dtype", "extras", "threads"]

    def setup(self, optimizer, dtype, extras, threads):
        fastnn.set_num_threads(threads)
        rng = np.random.default_rng(0)
        self.p = rng.standard_normal(N_PARAMS).astype(dtype)
        self.g = (rng.standard_normal(N_PARAMS) * 1e-3).astype(dtype)
        self.opt = OPTIMIZERS[optimizer](**EXTRAS[extras])
        self.opt.build([self.p])
        self.opt._apply_flat([self.g], [self.p])

    def time_update(self, optimizer, dtype, extras, threads):
        self.opt._apply_flat([self.g], [self.p])

    def peakmem_update(self, optimizer, dtype, extras, threads):
        for _ in range(5):
            self.opt._apply_flat([self.g], [self.p])


class OptimizerStepOverhead:
    """Per-call cost on a tiny arena (small networks are bound by it)."""

    params = (["sgd", "adam", "adam+clipnorm+ema"],)
    param_names = ["optimizer"]

    def setup(self, optimizer):
        fastnn.set_num_threads(1)
        self.p = np.zeros(1000, np.float32)
        self.g = np.full(1000, 1e-3, np.float32)
        self.opt = {"sgd": lambda: optimizers.SGD(0.01),
                    "adam": lambda: optimizers.Adam(1e-3),
                    "adam+clipnorm+ema": lambda: optimizers.Adam(1e-3, clipnorm=1.0, use_ema=True)}[optimizer]()
        self.opt.build([self.p])

    def time_step(self, optimizer):
        self.opt._apply_flat([self.g], [self.p])
