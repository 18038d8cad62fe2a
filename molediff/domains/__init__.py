"""Domain packages: data, featurisers, models and metrics for each modality."""
