package azuritetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

func listQueues(ctx context.Context, svc *azqueue.ServiceClient, prefix string) ([]string, error) {
	var names []string
	pager := svc.NewListQueuesPager(&azqueue.ListQueuesOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list queues %s*: %w", prefix, err)
		}
		for _, q := range page.Queues {
			if q.Name != nil {
				names = append(names, *q.Name)
			}
		}
	}
	return names, nil
}

func listContainers(ctx context.Context, c *azblob.Client, prefix string) ([]string, error) {
	var names []string
	pager := c.NewListContainersPager(&azblob.ListContainersOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list containers %s*: %w", prefix, err)
		}
		for _, ci := range page.ContainerItems {
			if ci.Name != nil {
				names = append(names, *ci.Name)
			}
		}
	}
	return names, nil
}

// listTables has no prefix parameter to use, so it asks for the range
// [prefix, prefix+"{"): table names are letters and digits, all below '{'.
// The check afterwards keeps the result exact whatever the server's
// comparison does with case.
func listTables(ctx context.Context, svc *aztables.ServiceClient, prefix string) ([]string, error) {
	quoted := strings.ReplaceAll(prefix, "'", "''")
	filter := fmt.Sprintf("TableName ge '%s' and TableName lt '%s{'", quoted, quoted)
	var names []string
	pager := svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tables %s*: %w", prefix, err)
		}
		for _, tb := range page.Tables {
			if tb.Name != nil && strings.HasPrefix(*tb.Name, prefix) {
				names = append(names, *tb.Name)
			}
		}
	}
	return names, nil
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
