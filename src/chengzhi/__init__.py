"""城治 chengzhi — one platform for a megacity's social governance (一网统管)."""

__version__ = "0.1.0"
