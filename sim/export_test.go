package sim

// SpillAt lets the external tests make JSONStream spill its hops to a
// temporary file at once.
var SpillAt = &spillAt
