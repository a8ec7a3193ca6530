"""Script-aware tokenization: punctuation tokens, speaker tokens, line and turn breaks."""

from textgen.text.detokenize import detokenize
from textgen.text.tokenizer import ScriptTokenizer, TokenizerSettings

__all__ = ["ScriptTokenizer", "TokenizerSettings", "detokenize"]
