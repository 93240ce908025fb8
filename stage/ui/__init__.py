"""The stage in the browser (Gradio): watch, join and direct a scene. It renders transcript events and sends
people's actions to the ``Scene``; it holds no story logic of its own."""

from __future__ import annotations

import os

# Gradio checks for updates and reports usage on import unless told not to; the stage runs offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
