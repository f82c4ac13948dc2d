"""The ``feedback`` classifier: what a post is for, how it feels, and which parts of shopping it is about."""

from safeguard.classifiers.feedback.classifier import ASPECTS, FeedbackClassifier
from safeguard.classifiers.feedback.kinds import KINDS

__all__ = ["ASPECTS", "KINDS", "FeedbackClassifier"]
