"""The seed README done the plain PySpark way, on Spark: the baseline of the Spark benchmark.

``VectorAssembler`` + ``StandardScaler`` + ``KMeans`` for K = 2..10 (the elbow's costs; Spark's
KMeans needs k >= 2), then K = 5, and the clustered customers written as Parquet.

    python bench/plain_spark.py INPUT.parquet OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import SparkSession

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]


def main(argv: list[str]) -> int:
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.read.parquet(argv[0])
    vectors = VectorAssembler(inputCols=FEATURES, outputCol="raw").transform(frame)
    scaled = StandardScaler(inputCol="raw", outputCol="features", withMean=True).fit(vectors) \
        .transform(vectors).cache()
    costs = [KMeans(k=k, seed=42).fit(scaled).summary.trainingCost for k in range(2, 11)]
    model = KMeans(k=5, seed=42).fit(scaled)
    model.transform(scaled).drop("raw", "features").write.mode("overwrite").parquet(argv[1])
    # for the benchmark's quality column (a file Spark ignores: its name starts with _)
    Path(argv[1], "_costs.json").write_text(json.dumps(
        {"k": 5, "cost": model.summary.trainingCost, "elbow": costs}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
