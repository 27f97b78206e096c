"""Per-category demand forecasting: dense grid, direct multi-horizon features, LightGBM, intervals."""
