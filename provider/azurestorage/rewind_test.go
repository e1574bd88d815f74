package azurestorage_test

import (
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/providertest"
	"github.com/azdurable/azdurable/provider"
)

func TestRewindAndRestart(t *testing.T) {
	providertest.RunRewind(t, func(t *testing.T) provider.Backend { return newBackend(t, azuritetest.NewHub(t)) })
}
