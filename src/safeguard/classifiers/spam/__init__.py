"""The ``spam`` classifier: explainable link, contact, money and repetition features plus a linear model."""

from safeguard.classifiers.spam.classifier import SpamClassifier

__all__ = ["SpamClassifier"]
