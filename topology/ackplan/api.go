package ackplan

// This file was the contract between the planner's parts; the bodies are
// now in their files: Capacity, ComputeCapacity and WriteCapacity in
// capacity.go; Comparison, Compare and WriteComparison in compare.go;
// Request, Suggestion, Choice, NoPlanError and Suggest in suggest.go.
