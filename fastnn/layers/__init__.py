"""Layers of a Sequential model."""
from fastnn.layers.base import Layer
from fastnn.layers.dense import Dense
from fastnn.layers.flatten import Flatten
from fastnn.layers.input import Input

__all__ = ["Layer", "Dense", "Flatten", "Input"]
