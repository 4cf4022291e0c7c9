"""The HTTP side of `lockgate serve`: the REST API, the metrics endpoint and the web UI."""
