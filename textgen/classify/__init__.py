"""Sequence classification: labelled texts -> a recurrent classifier (``textgen train-classifier``).

``sources`` reads the three data shapes, ``split`` deduplicates and splits them (recorded),
``units`` turns text into character or word ids, ``model`` is the network, ``train`` the loop,
``artifact`` the saved classifier (``textgen.load_classifier``), ``metrics`` / ``evaluate`` /
``plot`` the scores, and ``judge`` scores generated turns against real ones with a speaker
classifier (``textgen evaluate-generation``).
"""
