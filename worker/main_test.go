package worker_test

import (
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestMain gives the tests that need storage the harness's Azurite,
// started on first use only, so the in-memory tests start no node.
func TestMain(m *testing.M) { azuritetest.Main(m) }
