package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/spf13/cobra"
)

// EnvConnectionString is read when --connection-string is not given.
const EnvConnectionString = "AZURE_STORAGE_CONNECTION_STRING"

// EnvTaskHub is the default of --task-hub.
const EnvTaskHub = "AZDURABLE_TASK_HUB"

// storageFlags are the flags every command that talks to storage shares.
type storageFlags struct {
	connectionString string
	account          string
	local            bool
	taskHub          string
	partitions       int

	// opened is the account backend opened, for commands that need it
	// afterwards (nil before).
	opened *storage.Account
}

func addStorageFlags(cmd *cobra.Command) *storageFlags {
	f := &storageFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.connectionString, "connection-string", "", "storage connection string (default $"+EnvConnectionString+")")
	fl.StringVar(&f.account, "account", "", "storage account name, authenticated with azidentity (managed identity, workload identity, Azure CLI login, …)")
	fl.BoolVar(&f.local, "local", false, "use the local Azurite of make demo (127.0.0.1:10000-10002, data in .azurite/), starting it if it is not running")
	fl.StringVar(&f.taskHub, "task-hub", os.Getenv(EnvTaskHub), "task hub name (default $"+EnvTaskHub+")")
	fl.IntVar(&f.partitions, "partitions", azurestorage.DefaultPartitions, "the task hub's partition count (1-16)")
	return f
}

func (f *storageFlags) hub() (azurestorage.Resources, error) {
	if f.taskHub == "" {
		return azurestorage.Resources{}, usagef("--task-hub is required (or set %s)", EnvTaskHub)
	}
	r, err := azurestorage.HubResources(f.taskHub, f.partitions)
	if err != nil {
		return azurestorage.Resources{}, usageError{err}
	}
	return r, nil
}

// open returns the storage account the flags name, and a function that
// releases what open started (a local Azurite).
func (f *storageFlags) open(ctx context.Context, cmd *cobra.Command) (*storage.Account, func(), error) {
	noop := func() {}
	switch {
	case f.local:
		return azurite.OpenLocal(ctx, cmd.ErrOrStderr())
	case f.connectionString != "":
		a, err := storage.ParseConnectionString(f.connectionString)
		return a, noop, err
	case os.Getenv(EnvConnectionString) != "":
		a, err := storage.ParseConnectionString(os.Getenv(EnvConnectionString))
		if err != nil {
			return nil, noop, fmt.Errorf("%s: %w", EnvConnectionString, err)
		}
		return a, noop, nil
	case f.account != "":
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, noop, fmt.Errorf("azidentity: %w", err)
		}
		a, err := storage.FromAccountName(f.account, cred)
		return a, noop, err
	}
	return nil, noop, usagef("no storage given: use --connection-string, set %s, use --account with an Azure login, or --local for the local Azurite", EnvConnectionString)
}

// backend opens storage and returns an Azure Storage backend for the hub.
func (f *storageFlags) backend(ctx context.Context, cmd *cobra.Command, adjust func(*azurestorage.Options)) (*azurestorage.Backend, func(), error) {
	if _, err := f.hub(); err != nil {
		return nil, func() {}, err
	}
	acct, release, err := f.open(ctx, cmd)
	if err != nil {
		return nil, release, err
	}
	f.opened = acct
	o := azurestorage.Options{TaskHub: f.taskHub, Account: acct, Partitions: f.partitions, Logger: logger(cmd)}
	if adjust != nil {
		adjust(&o)
	}
	be, err := azurestorage.New(o)
	if err != nil {
		release()
		return nil, func() {}, err
	}
	return be, release, nil
}
