"""The director: plot beats, who speaks next, when a beat ends, writer overrides."""
