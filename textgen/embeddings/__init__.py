"""Skip-gram negative-sampling word vectors: torch and gensim backends, export, evaluation."""

from textgen.embeddings.base import Progress
from textgen.embeddings.config import EmbeddingConfig
from textgen.embeddings.train import EmbeddingResult, train_embeddings

__all__ = ["EmbeddingConfig", "EmbeddingResult", "Progress", "train_embeddings"]
