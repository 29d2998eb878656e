package k8s

import (
	"netsim/internal/prose"

	"maps"
	"slices"
	"strconv"
	"strings"
)

const defaultNamespace = "default"

// formatLabels prints a label map as {a: 1, b: 2}, keys sorted.
func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + m[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// andList formats ["a", "b", "c"] as "a, b and c".
func andList(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// listOf formats "WHAT are: a, b, c", shortened when long.
var listOf = prose.ListOf

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }
