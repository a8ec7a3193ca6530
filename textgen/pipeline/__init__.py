"""Staged pipelines: ``textgen run pipelines/<name>.yaml`` reruns only the stages whose inputs changed.

``spec`` loads and validates pipeline files, ``lock`` records what each stage ran with
(``pipeline.lock``), ``runner`` plans and runs, ``staging`` keeps failed runs from touching good
outputs, and ``stages`` is the closed registry of stage kinds.
"""

from textgen.pipeline.lock import record_stage
from textgen.pipeline.runner import Runner, StageEvent, StageStatus
from textgen.pipeline.spec import PipelineSpec, SpecError, load_spec

__all__ = ["PipelineSpec", "Runner", "SpecError", "StageEvent", "StageStatus", "load_spec", "record_stage"]
