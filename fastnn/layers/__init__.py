"""Layers: Dense and Input (more come with the toolkit)."""
from fastnn.layers.base import Layer
from fastnn.layers.dense import Dense
from fastnn.layers.input import Input

__all__ = ["Layer", "Dense", "Input"]
