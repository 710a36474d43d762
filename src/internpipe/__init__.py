"""internpipe: one command that carries an InternLM model through the InternLM toolchain."""

__version__ = "0.1.0"
