"""Word-level language models: LSTM / attention generators, training, checkpoints, scoring.

``model`` and ``softmax`` are the networks, ``config`` their settings, ``train`` the loop (with
``data``, ``schedule``, ``pretrained``, ``collectives``), ``checkpoint`` the artifacts, ``evaluate``
the ``val_bpb`` scoring and ``torchrun`` the multi-process launcher.
"""
