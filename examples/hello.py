"""The smallest pipeline: one step. `lockgate run examples/hello.py:hello`"""

from lockgate import pipeline, task


@task
def greet(name: str) -> str:
    return f"hello, {name}"


@pipeline
def hello(name: str = "lockgate"):
    return greet(name)
