"""Word-level LSTM / attention generators: models, training, checkpoints, evaluation."""

from textgen.generator.checkpoint import load_generator
from textgen.generator.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.generator.model import MODELS, build_model

__all__ = ["MODELS", "GeneratorConfig", "ModelConfig", "TrainConfig", "build_model", "load_generator"]
