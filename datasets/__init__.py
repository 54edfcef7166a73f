"""Readers for the four person-data formats, the sample store, the embedded sample, synthesis."""
from datasets import env as _env

_env.apply()
