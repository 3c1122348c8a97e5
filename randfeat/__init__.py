"""Random-feature ridge regression: power-law tasks, feature maps, ridge paths and the eigenframework risk predictions."""
