"""Demo data and the demo job simulator behind `loomworks serve --demo`."""
