package prose

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {-1000, "-1,000"},
		{-999, "-999"}, {65534, "65,534"}, {1234567, "1,234,567"}, {-9223372036854775808, "-9,223,372,036,854,775,808"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			assert.Equal(t, tc.want, Thousands(tc.n))
		})
	}
	assert.Equal(t, "18,446,744,073,709,551,615", Thousands(uint64(1<<64-1)))
}

func TestListOf(t *testing.T) {
	assert.Equal(t, "there are no pods", ListOf("pods", nil))
	assert.Equal(t, "pods are: a, b", ListOf("pods", []string{"a", "b"}))
	var many []string
	for i := range 15 {
		many = append(many, fmt.Sprint(i))
	}
	assert.Equal(t, "pods are: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, and 3 more", ListOf("pods", many))
}
