"""HTTP routes, one module per concern; each exports `router`."""
