"""The ``duplicate`` classifier: near-copies of earlier posts in a bounded streaming window."""

from safeguard.classifiers.duplicate.classifier import DuplicateClassifier

__all__ = ["DuplicateClassifier"]
