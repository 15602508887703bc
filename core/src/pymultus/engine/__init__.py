"""The plugin-chain engine: hooks, type resolution, the chain executor, the result cache."""
