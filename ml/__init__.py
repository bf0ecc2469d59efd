"""Framework-free ML code for ArtSearch (no Django imports here)."""
