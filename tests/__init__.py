"""custseg tests."""
