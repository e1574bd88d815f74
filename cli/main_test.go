package cli

import (
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestMain is shared by every test file of the package: tests that need
// storage get the harness's Azurite, which is stopped after the run.
func TestMain(m *testing.M) { azuritetest.Main(m) }
