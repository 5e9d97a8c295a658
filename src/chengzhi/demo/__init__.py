"""Synthetic demo data: a deterministic, realistic city (江州市) — districts, streets,
communities and grids — with Chinese names and phone numbers (pure, no database)."""
