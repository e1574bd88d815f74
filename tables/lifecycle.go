package tables

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// CreateTables creates the named tables (a hub's History and Instances
// tables, say) if they do not exist, in parallel, as C# does at startup.
// A table that already exists is success. A table being deleted (409
// TableBeingDeleted, after a hub deletion) is an error that says so; the
// caller retries later.
func CreateTables(ctx context.Context, svc *aztables.ServiceClient, names ...string) error {
	return forEachTable(ctx, names, func(ctx context.Context, name string) error {
		_, err := svc.CreateTable(ctx, name, nil)
		if err == nil || responseCode(err) == "TableAlreadyExists" {
			return nil
		}
		return entityError("create table", name, "", "", err)
	})
}

// DeleteTables deletes the named tables, in parallel. A table that does not
// exist is success. The service finishes the deletion in the background;
// creating a table of the same name fails until it has.
func DeleteTables(ctx context.Context, svc *aztables.ServiceClient, names ...string) error {
	return forEachTable(ctx, names, func(ctx context.Context, name string) error {
		_, err := svc.DeleteTable(ctx, name, nil)
		if err == nil || responseCode(err) == "TableNotFound" || responseStatus(err) == 404 {
			return nil
		}
		return entityError("delete table", name, "", "", err)
	})
}

func forEachTable(ctx context.Context, names []string, f func(context.Context, string) error) error {
	errs := make([]error, len(names))
	_ = forEachLimit(ctx, len(names), len(names), func(ctx context.Context, i int) error {
		if names[i] == "" {
			errs[i] = errors.New("tables: empty table name")
			return nil
		}
		errs[i] = f(ctx, names[i])
		return nil // report every table, not just the first failure
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	return errors.Join(errs...)
}

func responseCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func responseStatus(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
