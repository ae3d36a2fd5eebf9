"""Optimizer update rules: against a plain numpy reference written here, and against
torch.optim (where torch is installed), both standalone (`opt.apply` on numpy arrays)
and inside whole training steps of a float64 Sequential.

Errors are measured relative to how far the parameters moved (not to the parameters
themselves), so that a difference in a small term of the update (e.g. where Adam's
epsilon goes) cannot hide behind the size of the weights.
"""
import re

import numpy as np
import pytest

import fastnn
from fastnn import layers, optimizers

TORCH_REASON = "torch is not installed: optimizer trajectories are not compared with torch.optim"

SHAPES = [(300,), (20, 15), (7,)]
# Gradient scales per variable: 1e-7 makes Adam's epsilon matter as much as sqrt(v_hat).
GRAD_SCALES = [1.0, 1e-3, 1e-7]
STEPS = 15

SGD_CONFIGS = [
    dict(learning_rate=0.05),
    dict(learning_rate=0.05, momentum=0.9),
    dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    dict(learning_rate=0.2, momentum=0.5, nesterov=True),
]
ADAM_CONFIGS = [
    dict(),
    dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
]
ALL_CONFIGS = [("SGD", c) for c in SGD_CONFIGS] + [("Adam", c) for c in ADAM_CONFIGS]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in c.items()) or 'defaults'}" for name, c in ALL_CONFIGS]


# --- plain numpy reference (float64), written from the documented formulas ---------------

class NumpySGD:
    """torch.optim.SGD with dampening 0: b = mu b + g (b = g on the first step);
    d = g + mu b (nesterov) or b; p -= lr d."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.lr, self.mu, self.nesterov = learning_rate, momentum, nesterov
        self.buf = None

    def step(self, params, grads):
        if self.buf is None:
            self.buf = [None] * len(params)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.mu == 0:
                d = g
            else:
                b = g.copy() if self.buf[i] is None else self.mu * self.buf[i] + g
                self.buf[i] = b
                d = g + self.mu * b if self.nesterov else b
            out.append(p - self.lr * d)
        return out


class NumpyAdam:
    """Adam with epsilon added to sqrt(v_hat) (Kingma & Ba, PyTorch's placement)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.m = self.v = None
        self.t = 0

    def step(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            m_hat = self.m[i] / (1 - self.b1 ** self.t)
            v_hat = self.v[i] / (1 - self.b2 ** self.t)
            out.append(p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out


REFERENCE = {"SGD": NumpySGD, "Adam": NumpyAdam}


def make_problem(seed, dtype=np.float64, shapes=SHAPES, scales=GRAD_SCALES, steps=STEPS):
    """Initial parameters and one fresh random gradient list per step."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(rng.standard_normal(s) * sc).astype(dtype) for s, sc in zip(shapes, scales)]
             for _ in range(steps)]
    return params, grads


def assert_close_float32(got, ref, start):
    """float32 rounds p itself (~6e-8 relative per step): allow that, plus 1e-4 of the move."""
    moved = np.max(np.abs(np.asarray(ref, np.float64) - start))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-4 * moved)


def moved_rel_err(got, ref, start):
    """max |got - ref| / max |ref - start|: error relative to the displacement."""
    got, ref, start = (np.asarray(a, np.float64) for a in (got, ref, start))
    scale = np.max(np.abs(ref - start))
    assert scale > 0, "reference did not move: the test is vacuous"
    return float(np.max(np.abs(got - ref)) / scale)


def run_fastnn(name, config, params, grads):
    opt = getattr(optimizers, name)(**config)
    variables = [p.copy() for p in params]
    for g in grads:
        assert opt.apply([x.copy() for x in g], variables) is None
    return opt, variables


def run_numpy(name, config, params, grads):
    ref = REFERENCE[name](**config)
    ps = [p.astype(np.float64) for p in params]
    for g in grads:
        ps = ref.step(ps, [x.astype(np.float64) for x in g])
    return ref, ps


# --- standalone optimizer vs numpy -----------------------------------------------------------

@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_apply_matches_numpy_reference_float64(name, config):
    params, grads = make_problem(1)
    opt, got = run_fastnn(name, config, params, grads)
    ref, want = run_numpy(name, config, params, grads)
    assert opt.iterations == STEPS
    for g, w, p in zip(got, want, params):
        assert g.dtype == np.float64 and g.shape == p.shape
        assert moved_rel_err(g, w, p) < 1e-12
    # The state holds the same moments as the reference (flat, one entry per variable).
    for i, p in enumerate(params):
        if name == "Adam":
            np.testing.assert_allclose(opt._state[i]["m"], ref.m[i].ravel(), rtol=1e-12, atol=0)
            np.testing.assert_allclose(opt._state[i]["v"], ref.v[i].ravel(), rtol=1e-12, atol=0)
        elif config.get("momentum", 0) > 0:
            np.testing.assert_allclose(opt._state[i]["momentum"], ref.buf[i].ravel(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_variables_in_a_list_are_independent(name, config):
    """A list of variables is updated exactly as each one alone."""
    params, grads = make_problem(2)
    _, together = run_fastnn(name, config, params, grads)
    for i, p in enumerate(params):
        _, alone = run_fastnn(name, config, [p], [[g[i]] for g in grads])
        np.testing.assert_array_equal(alone[0], together[i])


def test_single_array_is_accepted():
    params, grads = make_problem(3, shapes=[(50,)], scales=[1.0], steps=3)
    opt = optimizers.Adam(learning_rate=0.01)
    w = params[0].copy()
    for g in grads:
        opt.apply(g[0], w)
    _, want = run_numpy("Adam", dict(learning_rate=0.01), params, grads)
    assert moved_rel_err(w, want[0], params[0]) < 1e-12


def test_adam_first_step_moves_by_learning_rate():
    """Hand-worked: after one step m_hat = g and v_hat = g^2, so each weight moves by
    lr * g / (|g| + eps), i.e. ~lr against the sign of its gradient."""
    opt = optimizers.Adam(learning_rate=0.1)
    w = np.zeros(3)
    g = np.array([1.0, -2.0, 1e-8])
    opt.apply(g, w)
    np.testing.assert_allclose(w, [-0.1 / (1 + 1e-8), 0.1 * 2 / (2 + 1e-8), -0.1 * 1e-8 / 2e-8],
                               rtol=1e-14)


def test_sgd_hand_worked_nesterov():
    """Two steps of Nesterov momentum worked by hand (lr 0.1, mu 0.5, p0 1)."""
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5, nesterov=True)
    w = np.array([1.0])
    opt.apply(np.array([2.0]), w)   # b = 2, d = 2 + 0.5*2 = 3, p = 1 - 0.3 = 0.7
    np.testing.assert_allclose(w, [0.7], rtol=1e-15)
    opt.apply(np.array([-1.0]), w)  # b = 0.5*2 - 1 = 0, d = -1 + 0 = -1, p = 0.7 + 0.1 = 0.8
    np.testing.assert_allclose(w, [0.8], rtol=1e-15)


# --- float32 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_float32_is_kept_and_close_to_float64_reference(name, config):
    params, grads = make_problem(4, dtype=np.float32, scales=[1.0, 1e-3, 1e-5])
    opt, got = run_fastnn(name, config, params, grads)
    _, want = run_numpy(name, config, params, grads)
    for g, w, p in zip(got, want, params):
        assert g.dtype == np.float32
        assert_close_float32(g, w, p)
    for state in opt._state:
        for arr in state.values():
            assert arr.dtype == np.float32


def test_mixed_dtypes_in_one_list():
    params, grads = make_problem(5, shapes=[(40,), (30,)], scales=[1.0, 1.0], steps=5)
    params[0] = params[0].astype(np.float32)
    grads = [[g[0].astype(np.float32), g[1]] for g in grads]
    opt, got = run_fastnn("Adam", {}, params, grads)
    _, want = run_numpy("Adam", {}, params, grads)
    assert got[0].dtype == np.float32 and got[1].dtype == np.float64
    assert_close_float32(got[0], want[0], params[0])
    assert moved_rel_err(got[1], want[1], params[1]) < 1e-12


# --- hyperparameter validation -----------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs, arg, shown", [
    (optimizers.SGD, dict(learning_rate=0.0), "learning_rate", "0.0"),
    (optimizers.SGD, dict(learning_rate=-0.1), "learning_rate", "-0.1"),
    (optimizers.Adam, dict(learning_rate=0.0), "learning_rate", "0.0"),
    (optimizers.Adam, dict(learning_rate=-1e-3), "learning_rate", "-0.001"),
    (optimizers.Adam, dict(learning_rate=float("nan")), "learning_rate", "nan"),
    (optimizers.Adam, dict(learning_rate=float("inf")), "learning_rate", "inf"),
    (optimizers.Adam, dict(beta_1=1.0), "beta_1", "1.0"),
    (optimizers.Adam, dict(beta_1=1.5), "beta_1", "1.5"),
    (optimizers.Adam, dict(beta_1=-0.1), "beta_1", "-0.1"),
    (optimizers.Adam, dict(beta_2=1.0), "beta_2", "1.0"),
    (optimizers.Adam, dict(epsilon=0.0), "epsilon", "0.0"),
    (optimizers.Adam, dict(epsilon=-1e-8), "epsilon", "-1e-08"),
    (optimizers.SGD, dict(momentum=-0.5), "momentum", "-0.5"),
    (optimizers.SGD, dict(momentum=1.0), "momentum", "1.0"),
    (optimizers.SGD, dict(nesterov=True), "nesterov", "momentum=0"),
    (optimizers.SGD, dict(momentum=0.0, nesterov=True), "nesterov", "momentum=0"),
])
def test_bad_hyperparameters_raise_and_echo_the_value(cls, kwargs, arg, shown):
    with pytest.raises(ValueError, match=re.escape(arg)) as info:
        cls(**kwargs)
    assert shown in str(info.value)


@pytest.mark.parametrize("cls, kwargs, arg", [
    (optimizers.SGD, dict(learning_rate="fast"), "learning_rate"),
    (optimizers.SGD, dict(learning_rate=True), "learning_rate"),
    (optimizers.Adam, dict(beta_1=None), "beta_1"),
    (optimizers.Adam, dict(epsilon="1e-8"), "epsilon"),
])
def test_non_numeric_hyperparameters_raise(cls, kwargs, arg):
    with pytest.raises((TypeError, ValueError), match=arg):
        cls(**kwargs)


def test_boundary_hyperparameters_are_accepted():
    optimizers.Adam(beta_1=0.0, beta_2=0.0, epsilon=1e-30)
    optimizers.SGD(learning_rate=1e-12, momentum=0.0)
    optimizers.SGD(momentum=0.999, nesterov=True)


# --- config ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_config_round_trip(name, config):
    opt = getattr(optimizers, name)(**config)
    cfg = opt.get_config()
    for k, v in config.items():
        assert cfg[k] == v
    clone = type(opt).from_config(cfg)
    assert type(clone) is type(opt) and clone.get_config() == cfg
    assert clone.iterations == 0
    # Same hyperparameters: same trajectory, bit for bit.
    params, grads = make_problem(6, steps=4)
    results = []
    for o in (opt, clone):
        vs = [p.copy() for p in params]
        for g in grads:
            o.apply(g, vs)
        results.append(vs)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_defaults_follow_pytorch():
    cfg = optimizers.Adam().get_config()
    assert (cfg["learning_rate"], cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]) == (1e-3, 0.9, 0.999, 1e-8)
    cfg = optimizers.SGD().get_config()
    assert (cfg["learning_rate"], cfg["momentum"], cfg["nesterov"]) == (0.01, 0.0, False)


def test_get_by_name():
    assert type(optimizers.get("adam")) is optimizers.Adam
    assert type(optimizers.get("sgd")) is optimizers.SGD
    assert type(optimizers.get("Adam")) is optimizers.Adam
    opt = optimizers.SGD(learning_rate=0.3)
    assert optimizers.get(opt) is opt
    # A fresh instance each time: two models never share optimizer state by accident.
    assert optimizers.get("adam") is not optimizers.get("adam")


@pytest.mark.parametrize("bad", ["adabelief", "", 3, None])
def test_get_unknown_name_raises(bad):
    with pytest.raises(ValueError, match="optimizer") as info:
        optimizers.get(bad)
    assert repr(bad) in str(info.value)


# --- torch.optim: standalone -------------------------------------------------------------------

def torch_optimizer(torch, name, config, params):
    if name == "SGD":
        return torch.optim.SGD(params, lr=config.get("learning_rate", 0.01),
                               momentum=config.get("momentum", 0.0),
                               nesterov=config.get("nesterov", False))
    return torch.optim.Adam(params, lr=config.get("learning_rate", 1e-3),
                            betas=(config.get("beta_1", 0.9), config.get("beta_2", 0.999)),
                            eps=config.get("epsilon", 1e-8))


@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_apply_matches_torch_float64(name, config):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    params, grads = make_problem(7, steps=20)
    _, got = run_fastnn(name, config, params, grads)
    tparams = [torch.tensor(p.copy(), dtype=torch.float64, requires_grad=True) for p in params]
    topt = torch_optimizer(torch, name, config, tparams)
    for g in grads:
        for tp, x in zip(tparams, g):
            tp.grad = torch.from_numpy(x.copy())
        topt.step()
    for a, tp, p in zip(got, tparams, params):
        assert moved_rel_err(a, tp.detach().numpy(), p) < 1e-9


# --- torch: whole training steps of a Sequential -------------------------------------------------

def torch_twin(torch, model):
    """torch.nn.Sequential with the same weights (Linear.weight is (out, in): transposed)."""
    ws = model.get_weights()
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for lin, (w, b) in zip((net[0], net[2]), zip(ws[0::2], ws[1::2])):
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
    return net


def torch_weights(net):
    return [t.detach().numpy().copy() for lin in (net[0], net[2])
            for t in (lin.weight.T, lin.bias)]


def make_model(loss, opt, seed=3):
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)],
                              seed=seed, dtype="float64")
    model.compile(optimizer=opt, loss=loss)
    model.build((None, 6))
    return model


def batches(loss, n_steps, seed=11, rows=16):
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        x = rng.standard_normal((rows, 6))
        y = rng.integers(0, 3, rows) if loss == "softmax_cross_entropy" else rng.standard_normal((rows, 3))
        yield x, y


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("name, config", ALL_CONFIGS, ids=IDS)
def test_training_steps_match_torch(loss, name, config):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    model = make_model(loss, getattr(optimizers, name)(**config))
    start = model.get_weights()
    net = torch_twin(torch, model)
    topt = torch_optimizer(torch, name, config, list(net.parameters()))
    criterion = torch.nn.CrossEntropyLoss() if loss == "softmax_cross_entropy" else torch.nn.MSELoss()
    for x, y in batches(loss, 10):
        got_loss = model.train_on_batch(x, y)
        topt.zero_grad()
        tloss = criterion(net(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        assert got_loss == pytest.approx(tloss.item(), rel=1e-9)
    for a, b, p in zip(model.get_weights(), torch_weights(net), start):
        assert a.shape == b.shape
        assert moved_rel_err(a, b, p) < 1e-9


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_compute_gradients_match_torch(loss):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    model = make_model(loss, "sgd")
    net = torch_twin(torch, model)
    criterion = torch.nn.CrossEntropyLoss() if loss == "softmax_cross_entropy" else torch.nn.MSELoss()
    (x, y), = batches(loss, 1, seed=12)
    value, grads = model.compute_gradients(x, y)
    tloss = criterion(net(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert value == pytest.approx(tloss.item(), rel=1e-12)
    want = [t.grad.numpy() for lin in (net[0], net[2]) for t in (lin.weight, lin.bias)]
    want = [want[0].T, want[1], want[2].T, want[3]]
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-14)


def test_optimizer_pass_flushes_subnormal_moments_and_restores_fpu_mode():
    # Adam's first moment of a weight whose gradient stays 0 decays into the
    # subnormal range; the update loop runs with flush-to-zero (subnormal
    # arithmetic is ~100x slower) and must restore the caller's FPU mode.
    tiny = np.finfo(np.float32).tiny
    opt = fastnn.optimizers.Adam(learning_rate=1e-3)
    p = np.ones(40_000, np.float32)
    g = np.zeros_like(p)
    opt.apply(g, p)
    opt._state[0]["m"][:] = tiny / 4  # subnormal
    opt.apply(g, p)
    assert not opt._state[0]["m"].any(), "subnormal moments should be flushed to zero"
    np.testing.assert_array_equal(p, 1.0)
    # Subnormal arithmetic still works in the calling thread afterwards.
    assert np.float32(tiny) / np.float32(4) > 0
