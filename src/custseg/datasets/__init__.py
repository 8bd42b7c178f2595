"""Data bundled with custseg: the Kaggle *Mall Customers* table (see ``SOURCE.md`` here)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

MALL_CUSTOMERS = "Mall_Customers.csv"


def mall_customers_path() -> Path:
    """Path of the bundled ``Mall_Customers.csv`` (200 customers, 5 columns).

    Examples
    --------
    >>> mall_customers_path().name
    'Mall_Customers.csv'
    """
    return Path(str(resources.files(__package__).joinpath(MALL_CUSTOMERS)))


def load_mall_customers() -> pd.DataFrame:
    """The bundled Mall Customers table as a data frame.

    Examples
    --------
    >>> load_mall_customers().shape
    (200, 5)
    """
    return pd.read_csv(mall_customers_path())
