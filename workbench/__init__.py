"""Voice Agent Workbench: a voice-agent pipeline, its callers and its measurements on a laptop."""

__version__ = "0.1.0"
