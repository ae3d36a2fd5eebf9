"""scikit-learn estimators backed by fastnn (needs the optional dependency scikit-learn).

`MLPClassifier` / `MLPRegressor` take scikit-learn's MLP parameters and train a
fastnn `Sequential`; `KerasClassifier` / `KerasRegressor` wrap a function that
builds and compiles any fastnn model, so that it works in `Pipeline`,
`GridSearchCV`, `cross_val_score` and the other meta-estimators.
"""
from fastnn.sklearn.mlp import MLPClassifier, MLPRegressor
from fastnn.sklearn.wrapper import KerasClassifier, KerasRegressor

__all__ = ["KerasClassifier", "KerasRegressor", "MLPClassifier", "MLPRegressor"]
