"""The pure core: model, history, retry rules and the engine. No I/O, no clock, no randomness."""
