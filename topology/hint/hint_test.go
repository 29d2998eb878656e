package hint

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSuggest(t *testing.T) {
	names := []string{"node-1", "node-2", "web-1", "api-server"}
	tests := []struct {
		word string
		want []string
	}{
		{"node-3", []string{"node-1", "node-2"}},
		{"wbe-1", []string{"web-1"}},
		{"API-SERVER", []string{"api-server"}},
		{"server", []string{"api-server"}}, // contained
		{"zz", nil},
		{strings.Repeat("x", 60000), nil},
	}
	for _, tt := range tests {
		ResetWork()
		assert.Equal(t, tt.want, Suggest(tt.word, names), "%.20s", tt.word)
	}
}

// Thousands of long misspelt names among thousands of candidates stay
// within the work budget: suggestions stop, the load does not hang.
func TestSuggestWorkIsBounded(t *testing.T) {
	ResetWork()
	var cands []string
	for i := range 20000 {
		cands = append(cands, strings.Repeat("p", 50)+string(rune('a'+i%26))+strings.Repeat("q", 10))
	}
	word := strings.Repeat("p", 52) + strings.Repeat("q", 9)
	start := time.Now()
	for range 1000 {
		Suggest(word, cands)
	}
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Nil(t, Suggest(word, cands), "the budget is spent")
	ResetWork()
	assert.NotNil(t, Suggest(word, cands), "a new load has the budget again")
}
