"""Training data: labelling methods, molecule corpora and dataset writers."""
