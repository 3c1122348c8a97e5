"""Low-rank matrix sensing: operators, initialisations, GD / SubGM / ScaledGD / PrecGD and the rates the theory predicts."""
