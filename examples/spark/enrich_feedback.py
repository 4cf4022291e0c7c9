"""A PySpark application: enrich a day of course feedback with the course reference data.

    spark-submit examples/spark/enrich_feedback.py FEEDBACK_CSV_FOLDER COURSES_CSV OUTPUT

Joins every feedback row to its course (title, domain, level), derives the sentiment from the
rating, and writes the enriched rows as Parquet to OUTPUT (replaced). Submitted by
examples/feedback_daily.py with the `spark_submit` task.
"""

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as fn


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: enrich_feedback.py FEEDBACK_CSV_FOLDER COURSES_CSV OUTPUT")
    feedback_folder, courses_csv, output = argv[1:]
    spark = SparkSession.builder.appName("enrich-feedback").getOrCreate()
    feedback = (
        spark.read.option("header", True)
        .schema("feedback_id LONG, received_date DATE, course_id STRING, rating INT, comment STRING")
        .csv(feedback_folder)
    )
    courses = spark.read.option("header", True).schema("course_id STRING, title STRING, domain STRING, level STRING")
    courses = courses.csv(courses_csv)
    sentiment = fn.when(fn.col("rating") >= 4, "positive").when(fn.col("rating") == 3, "neutral").otherwise("negative")
    enriched = feedback.join(fn.broadcast(courses), "course_id", "left").withColumn("sentiment", sentiment)
    checked = enriched.agg(
        fn.count("*").alias("rows"), fn.collect_set(fn.when(fn.col("title").isNull(), fn.col("course_id")))
    )
    rows, unknown = checked.first()
    if unknown:  # checked before anything is written: a bad day leaves no output
        raise ValueError(f"feedback names courses that are not in {courses_csv}: {', '.join(sorted(unknown))}")
    # OUTPUT is a partition folder (received_date=<day>): the day lives in its name, not in the file
    enriched.drop("received_date").coalesce(1).write.mode("overwrite").parquet(output)
    print(f"enriched {rows} feedback rows into {output}")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv)
