"""R4 definition data (StructureDefinitions, CC0) used by validation; see SOURCES.md."""
