"""Decoding: incremental generation, sampling rules, output heads, rendering and explanations.

``textgen.load(run_dir).generate(prime="jerry", length=200)`` (:mod:`textgen.decode.generator`) is
the entry point; the ``generate`` step (:mod:`textgen.steps.generate`) is built on it. ``loop`` is
the decoding loop, ``heads`` its output paths, ``sampling`` the rules (settings in ``settings``),
``stepper`` and ``kernels`` the fast LSTM steps, ``render`` and ``explain`` what people read.
"""
