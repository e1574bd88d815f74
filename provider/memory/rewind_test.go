package memory_test

import (
	"testing"

	"github.com/azdurable/azdurable/internal/providertest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
)

func TestRewindAndRestart(t *testing.T) {
	providertest.RunRewind(t, func(t *testing.T) provider.Backend { return memory.New(memory.Options{}) })
}
