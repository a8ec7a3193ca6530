"""Pipelines: ``textgen run pipelines/<name>.yaml`` reruns only the stages whose inputs changed.

``spec`` loads and validates pipeline files (each stage is a step of :mod:`textgen.steps` with its
params), ``runner`` plans and runs them through the steps' own ``run_step``, ``shipped`` lists the
pipelines that come with textgen.
"""
