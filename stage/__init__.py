"""The stage: LLM agents play the characters of a story, a director moves the plot."""

__version__ = "0.1.0"
