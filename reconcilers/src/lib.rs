//! shepard's decision core: every decision the agent takes, as pure functions of an observed
//! snapshot and `now`, returning data. No I/O, no clock reads, no randomness.
