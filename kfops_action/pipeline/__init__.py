"""The pipeline: load the user's function, compile it to KFP IR, check parameters, run it locally."""
