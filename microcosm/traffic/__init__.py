"""Traffic you can see: every hop a request makes is recorded, and the notebook side draws it."""
