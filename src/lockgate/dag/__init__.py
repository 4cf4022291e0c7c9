"""The Python front end: @task, @pipeline, and the graph their calls build."""
