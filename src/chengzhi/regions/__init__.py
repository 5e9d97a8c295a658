"""The city's structure: regions (行政区划), grids (网格), boundaries and point location."""
