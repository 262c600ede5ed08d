package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"canceled", context.Canceled, OK},
		{"wrapped canceled", fmt.Errorf("run: %w", context.Canceled), OK},
		{"runtime", base, Runtime},
		{"config", Config(base), Usage},
		{"wrapped config", fmt.Errorf("check: %w", Config(base)), Usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.want {
				t.Fatalf("Of(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
	if Config(nil) != nil {
		t.Fatal("Config(nil) must stay nil")
	}
	if !errors.Is(Config(base), base) {
		t.Fatal("Config must keep the wrapped error reachable")
	}
}
