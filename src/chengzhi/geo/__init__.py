"""Geographic helpers: point location over grid polygons and China coordinate systems."""
