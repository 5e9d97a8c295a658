"""Synthetic demo data: a deterministic, realistic city (江州市) with districts, streets, communities
and grids, Chinese names and phone numbers (pure, no database)."""
