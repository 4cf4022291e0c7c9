"""Amazon States Language: the language layer (paths, intrinsics, Choice rules, JSONata, validation)."""
