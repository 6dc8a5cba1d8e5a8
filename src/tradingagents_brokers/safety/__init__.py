"""The safety gate: the order journal, trading state and the built-in risk checks."""
