"""Layers of a Sequential model."""
from fastnn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from fastnn.layers.base import Layer
from fastnn.layers.batch_normalization import BatchNormalization
from fastnn.layers.dense import Dense
from fastnn.layers.dropout import Dropout
from fastnn.layers.flatten import Flatten
from fastnn.layers.gaussian_noise import GaussianNoise
from fastnn.layers.input import Input
from fastnn.layers.layer_normalization import LayerNormalization
from fastnn.layers.normalization import Normalization

__all__ = ["Layer", "Dense", "Flatten", "Input", "Activation", "ReLU", "LeakyReLU", "ELU",
           "Softmax", "Dropout", "GaussianNoise", "BatchNormalization", "LayerNormalization",
           "Normalization"]
