"""Loading and validating customer tables, and writing outputs safely."""

from custseg.data.readers import RawTable, SourceInfo, from_dataframe, read_table
from custseg.data.validate import ValidatedTable, validate

__all__ = ["RawTable", "SourceInfo", "ValidatedTable", "from_dataframe", "read_table", "validate"]
