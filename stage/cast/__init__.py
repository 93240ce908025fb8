"""characters/*.yaml -> Persona."""
