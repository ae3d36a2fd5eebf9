"""Sphinx configuration of the fastnn user guide.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(tests/test_docs.py builds it the same way, warnings as errors).
"""
from __future__ import annotations

import os
import sys

# Document the fastnn that the running interpreter imports (an installed or editable
# build: autodoc imports the compiled kernels). Only when there is none, try the source
# tree (after an in-place build); putting it first would shadow an installed wheel with
# a tree whose kernels are not built.
try:
    import fastnn
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastnn

project = "fastnn"
author = "the fastnn developers"
copyright = "2026, the fastnn developers"
version = release = fastnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
# intersphinx is declared but given no remote inventories: the build must work offline.
intersphinx_mapping: dict = {}

exclude_patterns = ["_build", "examples/*.out", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
root_doc = "index"

# numpy-style docstrings (STYLE.md); Google style off so that "Example:" prose is not parsed.
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_param = True
# "Attributes" sections as fields: a property documented in its own docstring too is
# then not described twice (a duplicate-description warning otherwise).
napoleon_use_ivar = True

autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_class_signature = "mixed"
# Docstrings use single backticks for names (`Loss`, `fastnn.gradient_check`):
# link them where the name resolves, inline code otherwise (nitpicky stays off).
default_role = "py:obj"

html_theme = "alabaster"
html_title = f"fastnn {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "Dense neural networks on the CPU", "fixed_sidebar": True}

# The examples print to stdout; nothing in the build executes them (tests/test_docs.py does).


def _skip_sklearn_request_methods(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_<method>_request`` methods: their
    docstrings are scikit-learn's and refer to its own glossary."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_request_methods)
