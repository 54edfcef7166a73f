"""The data package: readers for the person-data formats, the sample store, the embedded sample, synthesis."""
