"""Analysis probes of reasoning traces (RaML): answer confidence along a trace, reflection words, truncation."""
