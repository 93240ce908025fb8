"""The content policy of a story whose main characters are children, by meaning and by pattern.

Data flow: ``patterns`` (normalised text, a fast word-pattern first pass) -> ``features`` (the MiniLM sentence
embedding the lore search already loads, plus hashed character n-grams that survive misspellings) -> ``head``
(a small softmax layer fitted on the dev half of ``evals/safety.yaml`` by ``fit``, its weights in
``head.npz``) -> ``verdict`` (one answer for a line: allowed, or refused with a ``Harm``). ``labelled`` reads the
labelled set. ``stage.agents.safety`` is what the scene and the agents call.
"""
