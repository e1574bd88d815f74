package memory_test

import (
	"testing"

	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/provider/providertest"
)

func TestRewindAndRestart(t *testing.T) {
	providertest.RunRewind(t, func(t *testing.T) provider.Backend { return memory.New(memory.Options{}) })
}
