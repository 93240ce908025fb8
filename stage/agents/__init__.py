"""Character agents: context assembly (persona + scoped lore + beat + recent turns) -> reply -> guards."""
