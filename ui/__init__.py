"""The live web UI over a frame store: `pulse ui --sink URI`."""
