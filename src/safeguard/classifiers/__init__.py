"""Classifiers: the protocol, the registry and the built-ins."""

from safeguard.classifiers.base import Classifier, Cost, available, get_classifier_class, register

__all__ = ["Classifier", "Cost", "available", "get_classifier_class", "register"]
