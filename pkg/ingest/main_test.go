package ingest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests: the
// handler's encoder and decoder must be released by Close, and every test
// server, client and queue shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
