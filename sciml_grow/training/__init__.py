"""Training: the one loop (:mod:`.trainer`), its config, objectives, the run directory and the
fitted predictor."""
