"""The demo pipelines `scripts/demo` runs, one `file:pipeline` a line (paths from the project root)."""

TARGETS = [
    "examples/hello.py:hello",
    "examples/feedback.py:feedback",
    "examples/warehouse_load.py:warehouse_load",
]

if __name__ == "__main__":
    print("\n".join(TARGETS))
