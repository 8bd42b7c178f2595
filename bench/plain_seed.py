"""The plain approach the seed README describes, written as a user would: the benchmark baseline.

pandas + scikit-learn + matplotlib/seaborn, no sampling, no tricks: load the CSV, histograms
and a scatter of the features, StandardScaler, elbow (KMeans for K = 1..10), KMeans(5),
per-cluster means, cluster scatter, ``to_csv`` with a Cluster column, pickle the model.

    python bench/plain_seed.py INPUT.csv OUT_DIR
"""

import pickle
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]


def main(input_path: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(input_path)

    # EDA: histograms and a scatter plot of the key features.
    for feature in FEATURES:
        plt.figure(figsize=(7, 4.5))
        sns.histplot(df[feature], kde=False)
        plt.title(f"Distribution of {feature}")
        plt.savefig(out / f"hist_{FEATURES.index(feature)}.png")
        plt.close()
    plt.figure(figsize=(7, 4.5))
    sns.scatterplot(data=df, x=FEATURES[0], y=FEATURES[1], hue="Gender")
    plt.title("Annual Income vs Spending Score")
    plt.savefig(out / "scatter.png")
    plt.close()

    # Scale, elbow method.
    X = StandardScaler().fit_transform(df[FEATURES])
    inertia = []
    for k in range(1, 11):
        inertia.append(KMeans(n_clusters=k, init="k-means++", random_state=42).fit(X).inertia_)
    plt.figure(figsize=(7, 4.5))
    plt.plot(range(1, 11), inertia, marker="o")
    plt.title("Elbow Method")
    plt.xlabel("Number of clusters")
    plt.ylabel("Inertia")
    plt.savefig(out / "elbow.png")
    plt.close()

    # Train with K = 5, analyse the clusters.
    kmeans = KMeans(n_clusters=5, init="k-means++", random_state=42)
    df["Cluster"] = kmeans.fit_predict(X)
    print(df.groupby("Cluster")[FEATURES].mean())

    plt.figure(figsize=(7, 4.5))
    sns.scatterplot(data=df, x=FEATURES[0], y=FEATURES[1], hue="Cluster", palette="tab10")
    plt.title("Customer segments")
    plt.savefig(out / "clusters.png")
    plt.close()

    df.to_csv(out / "mall_customers_clustered.csv", index=False)
    with open(out / "kmeans_customer_segmentation_model.pkl", "wb") as f:
        pickle.dump(kmeans, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
