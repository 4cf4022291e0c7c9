"""The data-lake task library."""
