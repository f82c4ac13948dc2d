"""The ``toxicity`` classifier and its backends.

Configured in a ruleset as ``toxicity: {backend: NAME, ...}``; every backend gives Detoxify's label
names and declares only the labels it really produces:

* ``default``: the shipped cascade (offline, no download, no torch): the ``fast`` tier scores every post
  and the ``model`` tier re-scores those with any sign of harm. Labels ``toxicity``, ``insult``,
  ``threat``, ``identity_attack``, ``self_harm``, ``counter_speech``, plus ``target``, ``target_score``,
  ``quoted``, ``passage_heads`` (the harm heads a passage past the first tokens decided) and
  ``escalated``. Options ``escalate_at``, ``cues``, ``fast``, ``model``: see :mod:`.harm`.
* ``fast``: the n-gram heads alone (numpy only), ``model: PATH`` for a retrained file.
* ``model``: MiniLM (int8 ONNX, onnxruntime) embeddings plus n-grams; ``model``, ``encoder``,
  ``batch_size``, ``threads``, ``max_tokens``.
* ``detoxify``: ``model_type`` (original, unbiased, multilingual, original-small, unbiased-small),
  ``checkpoint`` (a Detoxify ``.ckpt``), ``config_dir`` (its Hugging Face config and tokenizer files),
  ``batch_size``, ``threads``. Loaded with ``torch.load(weights_only=True)`` and strict state-dict keys.
* ``transformers``: ``model_dir`` (a local sequence-classification model), ``labels``
  (``{their_label: our_label}``), ``activation`` (sigmoid or softmax), ``batch_size``, ``threads``.
* ``onnx``: ``model`` (a file written by ``safeguard export-onnx``, tokenizer files beside it),
  ``batch_size``, ``threads``. Needs onnxruntime and tokenizers, not torch.
* ``cascade``: ``fast`` (a backend name or mapping, default ``fast``), ``slow`` (a mapping),
  ``band`` ``[lo, hi]``: only posts whose fast toxicity lies in the band go to the slow model. Adds the
  ``escalated`` signal (true when the slow model scored the post).
"""

from safeguard.classifiers.toxicity.classifier import BACKENDS, ToxicityClassifier, make_backend

__all__ = ["BACKENDS", "ToxicityClassifier", "make_backend"]
