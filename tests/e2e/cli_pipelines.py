from lockgate import pipeline, task


@task
def extract(day: str) -> list[dict]:
    print(f"reading feedback for {day}")
    return [{"rating": r} for r in (5, 3, 1)]


@task
def score(row: dict) -> dict:
    return {**row, "positive": row["rating"] >= 4}


@task
def load(rows: list[dict]) -> int:
    return sum(1 for r in rows if r["positive"])


@pipeline
def feedback(day: str = "2026-11-24", limit: int = 10):
    return load(score.map(extract(day)))


@task
def explode() -> None:
    raise RuntimeError("the warehouse is read-only today")


@task(trigger_rule="one_failed")
def alert() -> str:
    return "paged"


@pipeline
def failing():
    boom = explode()
    boom >> alert()
    return boom


@pipeline
def cyclic():
    a, b = extract("x"), load([])
    a >> b
    b >> a


@pipeline
def miscalled():
    return extract()


@pipeline
def broken_body():
    return undefined_name  # noqa: F821
