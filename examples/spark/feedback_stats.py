"""A PySpark application: feedback counts and mean rating per sentiment, written as Parquet.

    spark-submit examples/spark/feedback_stats.py OUTPUT [FEEDBACK_CSV]

Without FEEDBACK_CSV it makes 1,000 rows of feedback itself, so it runs anywhere. Submitted by
the state machine examples/spark_poll.asl.json (submit, wait, poll the status).
"""

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as fn


def feedback(spark, source):
    if source:
        return spark.read.option("header", True).option("inferSchema", True).csv(source)
    rows = spark.range(1, 1001).withColumnRenamed("id", "feedback_id")
    rating = (fn.abs(fn.hash("feedback_id")) % 5 + 1).cast("int")
    return rows.withColumn("rating", rating).withColumn(
        "sentiment",
        fn.when(fn.col("rating") >= 4, "positive").when(fn.col("rating") == 3, "neutral").otherwise("negative"),
    )


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit("usage: feedback_stats.py OUTPUT [FEEDBACK_CSV]")
    output, source = argv[1], argv[2] if len(argv) == 3 else None
    spark = SparkSession.builder.appName("feedback-stats").getOrCreate()
    stats = (
        feedback(spark, source)
        .groupBy("sentiment")
        .agg(fn.count("*").alias("reviews"), fn.round(fn.avg("rating"), 2).alias("mean_rating"))
        .orderBy("sentiment")
    )
    stats.write.mode("overwrite").parquet(output)
    for row in stats.collect():
        print(f"{row.sentiment}: {row.reviews} reviews, mean rating {row.mean_rating}")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv)
