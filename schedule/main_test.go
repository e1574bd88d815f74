package schedule_test

import (
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }
