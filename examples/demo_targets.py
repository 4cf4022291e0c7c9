"""The demo pipelines `scripts/demo` runs, one `file:pipeline` a line (paths from the project root)."""

TARGETS = [
    "examples/hello.py:hello",
    "examples/feedback.py:feedback",
    "examples/warehouse_load.py:warehouse_load",
    "examples/feedback_lake.py:feedback_lake",
]

if __name__ == "__main__":
    print("\n".join(TARGETS))
