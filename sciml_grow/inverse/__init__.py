"""The inverse problem beside the networks: torch forward operators re-run from the file's
discretization, MAP estimation and the classical references."""
