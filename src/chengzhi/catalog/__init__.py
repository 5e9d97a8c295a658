"""The matter catalogue (事项清单 / 权责清单): what a case is about, who handles it, how
fast, on what legal basis. The defaults ship as data (`catalog/data/*.yaml`, see
docs/catalog.md): GB/T 47678.5-2026 数字城管 components and matters, and a 12345 topic tree."""
