package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/samples"
)

// Samples returns the orchestrations and activities of package samples,
// with the indexing sample's summaries saved as blobs in the container
// cli.SamplesContainer(h.TaskHub) of h.Account (in memory when h has no
// account). The azdurable program hosts them with
// cli.WithRegistrationFunc.
func Samples(h cli.HostInfo) ([]durable.Registrable, error) {
	if h.Account == nil {
		return samples.All(nil), nil
	}
	bs, err := h.Account.BlobService(nil)
	if err != nil {
		return nil, err
	}
	return samples.All(&blobStore{client: bs, container: cli.SamplesContainer(h.TaskHub)}), nil
}

// SamplesContainer is the blob container of a task hub where the samples
// save their output: "<lower-case hub>-samples". `hub delete` deletes it
// with the hub.
func SamplesContainer(taskHub string) string { return strings.ToLower(taskHub) + "-samples" }

// blobStore is the indexing sample's Store as a blob container, created on
// first use.
type blobStore struct {
	client    *azblob.Client
	container string
	mu        sync.Mutex
	created   bool
}

func (s *blobStore) Save(ctx context.Context, name string, data []byte) error {
	opts := &azblob.UploadBufferOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")}}
	_, err := s.client.UploadBuffer(ctx, s.container, name, data, opts)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if err := s.create(ctx); err != nil {
			return err
		}
		_, err = s.client.UploadBuffer(ctx, s.container, name, data, opts)
	}
	if err != nil {
		return fmt.Errorf("saving %s in container %s: %w", name, s.container, err)
	}
	return nil
}

func (s *blobStore) create(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created {
		return nil
	}
	_, err := s.client.CreateContainer(ctx, s.container, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("creating container %s: %w", s.container, err)
	}
	s.created = true
	return nil
}
