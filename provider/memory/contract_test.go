package memory_test

import (
	"testing"

	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/provider/providertest"
)

func TestContract(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Backend { return memory.New(memory.Options{}) })
}
