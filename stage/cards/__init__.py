"""Character cards (V1, V2, V3: JSON, PNG, CHARX) and lorebooks: read, turned into story files, written."""
